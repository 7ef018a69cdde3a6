import Linalg
import Support

/// Which curvature a weight matrix's pair of factors learns (ALGORITHM.md section 3).
public enum KroneckerMode: String, NamedChoice {
    /// Shampoo's statistics: `H_L = G G^T`, `H_R = G^T G`, two independent factors.
    case shampoo
    /// The determinant-constrained Kronecker form `S = alpha (S_R ⊗ S_L)`,
    /// `det S_L = det S_R = 1`, learned as one curvature (the KL/Fisher projection).
    case kl
}

/// The curvature of one `a x b` weight block as a pair of spectral factors, and its
/// preconditioned gradient `P = alpha^(-1/p) S_L^(-1/p) G S_R^(-1/p)` in four GEMMs
/// (`alpha = 1` in `shampoo` mode).
///
/// `kl` mode update, with `n = a b` and `A = B_L^T G B_R`:
///
///     HhL   = A Diag(1/d_R) A^T + lambda sum(1/d_R) I_a
///     HhR   = A^T Diag(1/d_L) A + lambda sum(1/d_L) I_b
///     tau   = sum_i HhL_ii / d_L,i
///     alpha <- (1 - beta2) alpha + beta2 tau / n         (first; the new alpha is used below;
///                                                        a side at another rate reads alpha
///                                                        moved at its own rate)
///     m_L,i = beta2 (HhL_ii / (b alpha d_L,i) - tau / (n alpha));  m_R likewise with a, HhR, d_R
///     K_L, K_R gap-damped with beta2 / (b alpha), beta2 / (a alpha) in place of beta2
///     d_L, d_R moved by the eigenvalue map; then divided by their geometric means g_L, g_R,
///     alpha *= g_L g_R; B_L, B_R retracted
///
/// `lambda` is the factor options' `curvatureDamping`.
public final class KroneckerFactors<Scalar: LinalgScalar>: KroneckerBlock {
    /// Whether the factors learn Shampoo's `G G^T` and `G^T G` independently (`shampoo`) or the
    /// determinant-constrained Kronecker projection `alpha (S_R ⊗ S_L)` (`kl`).
    public let mode: KroneckerMode
    /// `a`, the rows of the block.
    public let rows: Int
    /// `b`, the columns of the block.
    public let columns: Int
    /// `S_L` (a x a).
    public let left: SpectralFactor<Scalar>
    /// `S_R` (b x b).
    public let right: SpectralFactor<Scalar>
    /// `alpha` (`kl` mode); 1 in `shampoo` mode.
    public private(set) var scale: Scalar
    /// Which sides precondition with a dense root formed once per change of the factor (see
    /// `preconditionGradient`). Off by default: a factor updated every step changes before its
    /// dense root could be reused.
    public var denseRoots: (left: Bool, right: Bool) = (false, false)
    /// Both sides dense or both factored.
    public var usesDenseRoots: Bool {
        get { denseRoots.left && denseRoots.right }
        set { denseRoots = (newValue, newValue) }
    }

    private let options: SpectralFactorOptions
    private let workspace: KroneckerWorkspace<Scalar>
    private var leftRoots = DenseRootCache<Scalar>()
    private var rightRoots = DenseRootCache<Scalar>()

    /// Fresh factors for an `rows x columns` block: `S_L = S_R = d0 I` in `shampoo` mode;
    /// `S_L = S_R = I` and `alpha = d0` in `kl` mode.
    /// `stateDType`: how the factors keep `B` (`StateDType`); `workspaces`: the scratch shared with
    /// the other blocks one optimizer updates one at a time (nil: this block's own).
    public init(
        rows: Int, columns: Int, mode: KroneckerMode, options: SpectralFactorOptions = .init(),
        initialEigenvalue: Scalar = 1, stateDType: StateDType = .float32, workspaces: FactorWorkspacePool<Scalar>? = nil
    ) {
        precondition(rows >= 1 && columns >= 1, "KroneckerFactors: block \(rows) x \(columns)")
        self.mode = mode
        self.rows = rows
        self.columns = columns
        self.options = options
        let factorInitial: Scalar = mode == .kl ? 1 : initialEigenvalue
        let pool = workspaces ?? FactorWorkspacePool()
        workspace = pool.blockWorkspace(rows: rows, columns: columns)
        left = SpectralFactor(
            dimension: rows, initialEigenvalue: factorInitial, options: options, stateDType: stateDType,
            workspace: pool.factorWorkspace(dimension: rows, side: .left))
        right = SpectralFactor(
            dimension: columns, initialEigenvalue: factorInitial, options: options, stateDType: stateDType,
            workspace: pool.factorWorkspace(dimension: columns, side: .right))
        scale = mode == .kl ? initialEigenvalue : 1
    }

    /// Factors continuing from stored states (a checkpoint).
    public init(
        mode: KroneckerMode, left: SpectralFactorState<Scalar>, right: SpectralFactorState<Scalar>,
        scale: Scalar, options: SpectralFactorOptions = .init()
    ) throws(SpectralFactorError) {
        guard scale > 0 && scale.isFinite else { throw .invalidState("Kronecker scale \(scale) is not positive") }
        if mode == .shampoo && scale != 1 { throw .invalidState("shampoo mode has scale 1, got \(scale)") }
        self.mode = mode
        self.rows = left.eigenvalues.count
        self.columns = right.eigenvalues.count
        self.options = options
        workspace = KroneckerWorkspace()
        self.left = SpectralFactor(state: left, options: options)
        self.right = SpectralFactor(state: right, options: options)
        self.scale = scale
    }

    /// Replaces both factors and the scale with saved ones of the same sizes (a checkpoint).
    public func restore(left savedLeft: SpectralFactorState<Scalar>, right savedRight: SpectralFactorState<Scalar>, scale savedScale: Scalar) throws(SpectralFactorError) {
        guard savedScale > 0 && savedScale.isFinite else { throw .invalidState("Kronecker scale \(savedScale) is not positive") }
        if mode == .shampoo && savedScale != 1 { throw .invalidState("shampoo mode has scale 1, got \(savedScale)") }
        try left.restore(savedLeft)
        try right.restore(savedRight)
        scale = savedScale
    }

    /// "`prefix`.L.eigenvectors", ".L.eigenvalues", ".L.counters" (updates, failures, consecutive
    /// failures, polar steps), ".L.defectBound", the same for R, then "`prefix`.scale".
    public func stateTensors(prefix: String) -> [NamedTensor] {
        var tensors: [NamedTensor] = []
        for (side, factor) in [("L", left), ("R", right)] {
            let (state, k) = (factor.state, factor.dimension)
            let name = "\(prefix).\(side).eigenvectors"
            switch factor.stateDType {
            case .float32: tensors.append(NamedTensor(name: name, shape: [k, k], values: state.eigenvectors.elements))
            case .bfloat16: tensors.append(NamedTensor(name: name, shape: [k, k], bfloat16Bits: factor.eigenvectorStorageBits))
            }
            tensors.append(NamedTensor(name: "\(prefix).\(side).eigenvalues", shape: [k], values: state.eigenvalues))
            tensors.append(NamedTensor(name: "\(prefix).\(side).counters", integers: [Int64(state.updates), Int64(state.failures), Int64(state.consecutiveFailures), Int64(state.polarSteps)]))
            tensors.append(NamedTensor(name: "\(prefix).\(side).defectBound", shape: [1], values: [state.defectBound]))
        }
        tensors.append(NamedTensor(name: "\(prefix).scale", shape: [1], values: [scale]))
        return tensors
    }

    public func restore(from saved: SavedState, prefix: String) throws(SavedStateError) {
        func side(_ name: String, _ k: Int) throws(SavedStateError) -> SpectralFactorState<Scalar> {
            let vectors: [Scalar] = try saved.floats("\(prefix).\(name).eigenvectors", shape: [k, k])
            let values: [Scalar] = try saved.floats("\(prefix).\(name).eigenvalues", shape: [k])
            // Checkpoints from before the Newton-Schulz gate hold three counters and no bound.
            let gated = saved.contains("\(prefix).\(name).defectBound")
            let counters = try saved.integers("\(prefix).\(name).counters", count: gated ? 4 : 3)
            let bound: [Scalar]? = gated ? try saved.floats("\(prefix).\(name).defectBound", shape: [1]) : nil
            do {
                return try SpectralFactorState(
                    eigenvectors: Matrix(rows: k, columns: k, elements: vectors), eigenvalues: values,
                    updates: Int(counters[0]), failures: Int(counters[1]), consecutiveFailures: Int(counters[2]),
                    polarSteps: gated ? Int(counters[3]) : 0, defectBound: bound?[0])
            } catch {
                throw SavedStateError("\(prefix).\(name): \(error)")
            }
        }
        let savedLeft = try side("L", rows)
        let savedRight = try side("R", columns)
        let savedScale: [Scalar] = try saved.floats("\(prefix).scale", shape: [1])
        do { try restore(left: savedLeft, right: savedRight, scale: savedScale[0]) } catch { throw SavedStateError("\(prefix): \(error)") }
    }

    public func measureHealth(prefix: String) -> [(name: String, health: FactorHealth)] {
        [("\(prefix).L", left.measureHealth()), ("\(prefix).R", right.measureHealth())]
    }

    /// One curvature update from the gradient `G` (rows x columns), both factors at the options'
    /// curvature learning rate.
    @discardableResult
    public func update(gradient: Matrix<Scalar>) throws(SpectralFactorError) -> (left: FactorUpdateOutcome?, right: FactorUpdateOutcome?) {
        let rate = options.curvatureLearningRate
        return try update(gradient: gradient, rates: FactorRates(left: rate, right: rate))
    }

    /// One curvature update of the factors `rates` names, each with its own learning rate (a
    /// factor on a longer schedule may take larger steps); the others keep their state. In `kl`
    /// mode a one-sided step is the same step restricted to that side: `alpha` and the side's
    /// `m`, `K` as above, the other side held fixed. Outcomes are nil for sides not updated.
    ///
    /// `factored`, when given, is the same gradient as `dY^T X`: `kl` mode then rotates it as
    /// `(dY B_L)^T (X B_R)` (`shampoo` mode reads `gradient`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func update(
        gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>? = nil, rates: FactorRates
    ) throws(SpectralFactorError) -> (left: FactorUpdateOutcome?, right: FactorUpdateOutcome?) {
        precondition(gradient.rows == rows && gradient.columns == columns,
                     "KroneckerFactors.update: gradient is \(gradient.rows) x \(gradient.columns), block is \(rows) x \(columns)")
        if let factored { checkShape(factored, "update") }
        guard rates.left != nil || rates.right != nil else { return (nil, nil) }
        switch mode {
        case .shampoo:
            let leftOutcome = try rates.left.map { rate throws(SpectralFactorError) in
                try left.update(curvatureFactor: gradient, rate: Scalar(rate))
            }
            let rightOutcome = try rates.right.map { rate throws(SpectralFactorError) in
                try right.update(curvatureFactor: gradient, transposed: true, rate: Scalar(rate))
            }
            return (leftOutcome, rightOutcome)
        case .kl:
            rotate(gradient, factored: factored)
            return try updateKL(leftRate: rates.left.map { Scalar($0) }, rightRate: rates.right.map { Scalar($0) })
        }
    }

    public func updateCurvature(gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>?, rates: FactorRates) throws(SpectralFactorError) {
        try update(gradient: gradient, factored: factored, rates: rates)
    }

    /// `rotatedGradient = A = B_L^T G B_R`: two GEMMs through `G` (`a² b + a b²`), or through its
    /// factors as `(dY B_L)^T (X B_R)` (`r a² + r b² + r a b`).
    private func rotate(_ gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>?) {
        workspace.rotatedGradient.resize(rows: rows, columns: columns)
        if let factored {
            workspace.leftFactor.resize(rows: factored.rank, columns: rows)
            BLAS.gemm(factored.outputGradient, left.eigenvectors, into: &workspace.leftFactor)
            workspace.rightFactor.resize(rows: factored.rank, columns: columns)
            BLAS.gemm(factored.input, right.eigenvectors, into: &workspace.rightFactor)
            BLAS.gemm(workspace.leftFactor, workspace.rightFactor, transposeA: true, into: &workspace.rotatedGradient)
        } else {
            workspace.intermediate.resize(rows: rows, columns: columns)
            BLAS.gemm(left.eigenvectors, gradient, transposeA: true, into: &workspace.intermediate)
            BLAS.gemm(workspace.intermediate, right.eigenvectors, into: &workspace.rotatedGradient)
        }
    }

    private func checkShape(_ factored: FactoredGradient<Scalar>, _ caller: String) {
        precondition(factored.rows == rows && factored.columns == columns,
                     "KroneckerFactors.\(caller): factored gradient is \(factored.rows) x \(factored.columns), block is \(rows) x \(columns)")
    }

    public func refreshRoots() throws {}

    /// The `kl` step from `A = rotatedGradient`.
    private func updateKL(leftRate: Scalar?, rightRate: Scalar?) throws(SpectralFactorError) -> (left: FactorUpdateOutcome?, right: FactorUpdateOutcome?) {
        let (a, b) = (rows, columns)
        let n = Scalar(a * b)
        let damping = Scalar(options.curvatureDamping)
        let dL = left.eigenvalues
        let dR = right.eigenvalues

        Self.inverseSquareRoots(dR, into: &workspace.rightScales)
        Self.inverseSquareRoots(dL, into: &workspace.leftScales)

        // tau = sum_i HhL_ii / d_L,i = sum_ij A_ij² / (d_L,i d_R,j), with HhL's damping term.
        var tau: Scalar = 0
        if leftRate != nil {
            // HhL = (A Diag(d_R^-1/2)) (A Diag(d_R^-1/2))^T + lambda sum(1/d_R) I (upper triangle:
            // the factor step reads no more).
            workspace.weighted.assign(workspace.rotatedGradient)
            workspace.weighted.scaleColumns(by: workspace.rightScales)
            workspace.leftCurvature.resize(rows: a, columns: a)
            BLAS.syrk(workspace.weighted, into: &workspace.leftCurvature, mirror: false)
            if damping > 0 { workspace.leftCurvature.addToDiagonal(damping * dR.reduce(0) { $0 + 1 / $1 }) }
            for i in 0..<a { tau += workspace.leftCurvature[i, i] / dL[i] }
        } else {
            workspace.rotatedGradient.withUnsafeBufferPointer { values in
                for i in 0..<a {
                    var row: Scalar = 0
                    for j in 0..<b { row += values[i * b + j] * values[i * b + j] / dR[j] }
                    tau += row / dL[i]
                }
            }
            if damping > 0 { tau += damping * dR.reduce(0) { $0 + 1 / $1 } * dL.reduce(0) { $0 + 1 / $1 } }
        }
        if rightRate != nil {
            // HhR = (Diag(d_L^-1/2) A)^T (Diag(d_L^-1/2) A) + lambda sum(1/d_L) I.
            workspace.weighted.assign(workspace.rotatedGradient)
            workspace.weighted.scaleRows(by: workspace.leftScales)
            workspace.rightCurvature.resize(rows: b, columns: b)
            BLAS.syrk(workspace.weighted, transpose: true, into: &workspace.rightCurvature, mirror: false)
            if damping > 0 { workspace.rightCurvature.addToDiagonal(damping * dL.reduce(0) { $0 + 1 / $1 }) }
        }

        // alpha moves at the rate of the left step when there is one, else the right's. A side
        // stepped at another rate (the schedule's larger factor, due every few left steps) reads
        // alpha moved at its own rate, so that `rate tau / (n alpha) <= 1` and the linear map
        // keeps its eigenvalues positive; with equal rates both read the same alpha.
        let previousScale = scale
        func scaleMoved(at rate: Scalar) -> Scalar { (1 - rate) * previousScale + rate * tau / n }
        scale = scaleMoved(at: leftRate ?? rightRate!)
        var leftOutcome: FactorUpdateOutcome?
        var rightOutcome: FactorUpdateOutcome?
        if let rate = leftRate {
            if workspace.leftStep.count != a { workspace.leftStep = [Scalar](repeating: 0, count: a) }
            let sideScale = scaleMoved(at: rate)
            let meanTerm = tau / (n * sideScale)
            for i in 0..<a { workspace.leftStep[i] = rate * (workspace.leftCurvature[i, i] / (Scalar(b) * sideScale * dL[i]) - meanTerm) }
            leftOutcome = try left.step(
                rotatedCurvature: workspace.leftCurvature, logEigenvalueStep: workspace.leftStep, rotationScale: rate / (Scalar(b) * sideScale))
        }
        if let rate = rightRate {
            if workspace.rightStep.count != b { workspace.rightStep = [Scalar](repeating: 0, count: b) }
            let sideScale = scaleMoved(at: rate)
            let meanTerm = tau / (n * sideScale)
            for i in 0..<b { workspace.rightStep[i] = rate * (workspace.rightCurvature[i, i] / (Scalar(a) * sideScale * dR[i]) - meanTerm) }
            rightOutcome = try right.step(
                rotatedCurvature: workspace.rightCurvature, logEigenvalueStep: workspace.rightStep, rotationScale: rate / (Scalar(a) * sideScale))
        }
        // A side not stepped keeps det = 1: only the stepped sides are renormalised.
        if leftRate != nil { scale *= left.normalizeDeterminant() }
        if rightRate != nil { scale *= right.normalizeDeterminant() }
        return (leftOutcome, rightOutcome)
    }

    /// `result[i] = 1 / sqrt(values[i])`.
    private static func inverseSquareRoots(_ values: [Scalar], into result: inout [Scalar]) {
        if result.count != values.count { result = [Scalar](repeating: 0, count: values.count) }
        for index in values.indices { result[index] = 1 / values[index].squareRoot() }
    }

    /// `P = alpha^(-1/p) S_L^(-1/p) G S_R^(-1/p)` with `S^(-1/p) = B Diag((d + eps)^(-1/p)) B^T`.
    /// Each side applies its root in factored form (two GEMMs: `B (Diag(s) (B^T G))`, nothing
    /// to form) or, if `denseRoots` says so, as the dense root formed once per change of the
    /// factor (one GEMM per use, `2 k³` flops per formation), so a factor updated every T steps
    /// forms its root once for T uses. Both sides factored is the four-GEMM form
    /// `alpha^(-1/p) B_L [Diag(sL) (B_L^T G B_R) Diag(sR)] B_R^T`. In `shampoo` mode `alpha = 1`.
    ///
    /// `factored`, when given, is the same gradient as `dY^T X`, and `P` is formed as
    /// `alpha^(-1/p) (dY S_L^(-1/p))^T (X S_R^(-1/p))`, each side's root applied to its thin factor.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func preconditionGradient(
        _ gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>? = nil, power: Double,
        damping: RootDamping = .standard, into result: inout Matrix<Scalar>
    ) {
        let (a, b) = (rows, columns)
        precondition(gradient.rows == a && gradient.columns == b,
                     "KroneckerFactors.preconditionGradient: gradient is \(gradient.rows) x \(gradient.columns), block is \(a) x \(b)")
        let overall = mode == .kl ? Scalar.pow(scale, -1 / Scalar(power)) : 1
        left.inverseRootScales(power: power, damping: damping, into: &workspace.leftScales)
        right.inverseRootScales(power: power, damping: damping, into: &workspace.rightScales)
        result.resize(rows: a, columns: b)
        if let factored {
            checkShape(factored, "preconditionGradient")
            // dY S_L^(-1/p) and X S_R^(-1/p): the roots are symmetric, so each is a product from the right.
            applyRoot(left, denseRoots.left, &leftRoots, scales: workspace.leftScales, power: power, damping: damping, to: factored.outputGradient, scratch: &workspace.leftRootScratch, into: &workspace.leftFactor)
            applyRoot(right, denseRoots.right, &rightRoots, scales: workspace.rightScales, power: power, damping: damping, to: factored.input, scratch: &workspace.rightRootScratch, into: &workspace.rightFactor)
            BLAS.gemm(workspace.leftFactor, workspace.rightFactor, transposeA: true, alpha: overall, into: &result)
            return
        }
        workspace.intermediate.resize(rows: a, columns: b)
        switch (denseRoots.left, denseRoots.right) {
        case (false, false):
            for index in workspace.leftScales.indices { workspace.leftScales[index] *= overall }
            BLAS.gemm(left.eigenvectors, gradient, transposeA: true, into: &workspace.intermediate)
            workspace.rotatedGradient.resize(rows: a, columns: b)
            BLAS.gemm(workspace.intermediate, right.eigenvectors, into: &workspace.rotatedGradient)
            workspace.rotatedGradient.scaleRows(by: workspace.leftScales)
            workspace.rotatedGradient.scaleColumns(by: workspace.rightScales)
            BLAS.gemm(left.eigenvectors, workspace.rotatedGradient, into: &workspace.intermediate)
            BLAS.gemm(workspace.intermediate, right.eigenvectors, transposeB: true, into: &result)
        case (true, true):
            BLAS.gemm(leftRoots.root(version: left.stateVersion, power: power, damping: damping, eigenvectors: left.eigenvectors, scales: workspace.leftScales), gradient, alpha: overall, into: &workspace.intermediate)
            BLAS.gemm(workspace.intermediate, rightRoots.root(version: right.stateVersion, power: power, damping: damping, eigenvectors: right.eigenvectors, scales: workspace.rightScales), into: &result)
        case (true, false):
            // (R_L G) B_R Diag(sR) B_R^T.
            BLAS.gemm(leftRoots.root(version: left.stateVersion, power: power, damping: damping, eigenvectors: left.eigenvectors, scales: workspace.leftScales), gradient, alpha: overall, into: &workspace.intermediate)
            workspace.rotatedGradient.resize(rows: a, columns: b)
            BLAS.gemm(workspace.intermediate, right.eigenvectors, into: &workspace.rotatedGradient)
            workspace.rotatedGradient.scaleColumns(by: workspace.rightScales)
            BLAS.gemm(workspace.rotatedGradient, right.eigenvectors, transposeB: true, into: &result)
        case (false, true):
            // B_L Diag(sL) B_L^T (G R_R).
            for index in workspace.leftScales.indices { workspace.leftScales[index] *= overall }
            BLAS.gemm(gradient, rightRoots.root(version: right.stateVersion, power: power, damping: damping, eigenvectors: right.eigenvectors, scales: workspace.rightScales), into: &workspace.intermediate)
            workspace.rotatedGradient.resize(rows: a, columns: b)
            BLAS.gemm(left.eigenvectors, workspace.intermediate, transposeA: true, into: &workspace.rotatedGradient)
            workspace.rotatedGradient.scaleRows(by: workspace.leftScales)
            BLAS.gemm(left.eigenvectors, workspace.rotatedGradient, into: &result)
        }
    }

    /// `result = M S^(-1/p)` for a thin `M`: one GEMM with the dense root, or two through `B`.
    private func applyRoot(
        _ factor: SpectralFactor<Scalar>, _ dense: Bool, _ roots: inout DenseRootCache<Scalar>, scales: [Scalar],
        power: Double, damping: RootDamping, to matrix: Matrix<Scalar>, scratch: inout Matrix<Scalar>,
        into result: inout Matrix<Scalar>
    ) {
        if dense {
            result.resize(rows: matrix.rows, columns: factor.dimension)
            let root = roots.root(version: factor.stateVersion, power: power, damping: damping, eigenvectors: factor.eigenvectors, scales: scales)
            BLAS.gemm(matrix, root, into: &result)
        } else {
            InverseRoot.applyRight(eigenvectors: factor.eigenvectors, scales: scales, to: matrix, scratch: &scratch, into: &result)
        }
    }

    /// The dense curvature this pair represents, `alpha (S_R ⊗ S_L)` acting on `vec(G)`
    /// (column-major vec; tests only: `ab x ab`).
    public var kroneckerMatrix: Matrix<Scalar> {
        let sl = left.state.matrix
        let sr = right.state.matrix
        let (a, b) = (rows, columns)
        return Matrix(rows: a * b, columns: a * b) { row, column in
            // vec index i + a * j holds G[i, j].
            let (i, j) = (row % a, row / a)
            let (k, l) = (column % a, column / a)
            return scale * sr[j, l] * sl[i, k]
        }
    }
}
