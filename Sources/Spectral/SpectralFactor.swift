import Linalg

/// One curvature factor `S = B Diag(d) B^T` (k x k), learned by Riemannian steps in spectral
/// coordinates with a truncated exponential map: no eigendecomposition, and every root
/// `S^(-1/p)` free (ALGORITHM.md section 2; Lin et al., ICML 2025, section 3).
///
/// One update, with `Hh = B^T H B` the curvature seen in the current eigenbasis:
///
///     m_i  = beta2 (Hh_ii / d_i - 1)
///     K_ij = beta2 Hh_ij (d_j - d_i) / ((d_j - d_i)² + delta d_i d_j)        (skew, gap-damped)
///     K   <- K min(1, c / ||K||_F)                                          (step clipping)
///     d   <- d ⊙ map(m)           (linear: 1 + m; trunc2; exp)
///     B   <- retraction(B, K)     (default B (I + K + K²/2), one Newton-Schulz step)
///
/// To first order in beta2 this is the moving average `S <- (1 - beta2) S + beta2 H`.
///
/// The failure policy: an update whose new eigenvalues are not finite and positive, or whose new
/// `B` is not finite or has `||B^T B - I||_F` above `orthogonalityBound`, is rejected and the
/// previous state kept; `maxConsecutiveFailures` rejections in a row are an error.
///
/// Scratch memory lives in a `SpectralFactorWorkspace`, the factor's own or one shared with the
/// other factors of its size that an optimizer updates one at a time, so updates do not
/// allocate. With `stateDType` bfloat16 the factor keeps `B` as bfloat16 between updates and
/// widens it into the workspace to compute; `d` stays `Scalar` (`StateDType`). It is a class:
/// state updated in place, never copied.
public final class SpectralFactor<Scalar: LinalgScalar> {
    /// The update rule.
    public let options: SpectralFactorOptions
    /// How `B` is kept between updates.
    public let stateDType: StateDType
    /// An upper bound on `||B^T B - I||_F` of the current eigenvectors, as known after the last
    /// accepted update (the state's `defectBound`; with bfloat16 storage it includes the
    /// rounding); `measureHealth()` measures the defect.
    public var orthogonalityError: Scalar { stored.defectBound }
    /// Incremented whenever `B` or `d` change, so that derived values (dense roots) can be cached.
    public private(set) var stateVersion = 0

    /// The state; with bfloat16 storage its `eigenvectors` are empty and `eigenvectorBits` hold `B`.
    private var stored: SpectralFactorState<Scalar>
    private var eigenvectorBits: [UInt16] = []
    private let workspace: SpectralFactorWorkspace<Scalar>

    /// A factor `S = d0 I` of size `dimension`. `workspace`: one shared with other factors of this
    /// size that are never in the middle of a call at the same time (nil: its own).
    public convenience init(
        dimension: Int, initialEigenvalue: Scalar = 1, options: SpectralFactorOptions = .init(),
        stateDType: StateDType = .float32, workspace: SpectralFactorWorkspace<Scalar>? = nil
    ) {
        self.init(
            state: SpectralFactorState(dimension: dimension, initialEigenvalue: initialEigenvalue), options: options,
            stateDType: stateDType, workspace: workspace)
    }

    /// A factor continuing from `state` (a checkpoint); with bfloat16 storage `B` is rounded (exact
    /// for a state saved in bfloat16) and the defect bound grows by what rounding did.
    public init(
        state: SpectralFactorState<Scalar>, options: SpectralFactorOptions = .init(),
        stateDType: StateDType = .float32, workspace: SpectralFactorWorkspace<Scalar>? = nil
    ) {
        precondition(options.validationError() == nil, "SpectralFactor: \(options.validationError()!)")
        precondition(stateDType == .float32 || Scalar.self == Float.self, "SpectralFactor: bfloat16 storage is for Float factors")
        self.options = options
        self.stateDType = stateDType
        self.workspace = workspace ?? SpectralFactorWorkspace()
        self.stored = state
        keepEigenvectors(defect: state.defectBound)
    }

    /// `k`.
    public var dimension: Int { stored.eigenvalues.count }

    /// The learned state: what a checkpoint saves (with bfloat16 storage, `B` widened exactly).
    public var state: SpectralFactorState<Scalar> {
        guard stateDType == .bfloat16 else { return stored }
        var state = stored
        state.eigenvectors = Matrix(rows: dimension, columns: dimension)
        BFloat16Matrix.load(eigenvectorBits, into: &state.eigenvectors)
        return state
    }

    /// Replaces the state with a saved one of the same size (a checkpoint), rounded as in `init(state:)`.
    public func restore(_ saved: SpectralFactorState<Scalar>) throws(SpectralFactorError) {
        guard saved.eigenvalues.count == dimension else {
            throw .invalidState("saved factor has dimension \(saved.eigenvalues.count), expected \(dimension)")
        }
        stored = saved
        keepEigenvectors(defect: saved.defectBound)
        stateVersion += 1
    }

    /// `B` (with bfloat16 storage: widened into the workspace, valid until another factor sharing
    /// it runs).
    public var eigenvectors: Matrix<Scalar> {
        guard stateDType == .bfloat16 else { return stored.eigenvectors }
        let current = SpectralFactorWorkspace<Scalar>.WidenedState(factor: ObjectIdentifier(self), version: stateVersion)
        if workspace.widenedState != current {
            workspace.widenedEigenvectors.resize(rows: dimension, columns: dimension)
            BFloat16Matrix.load(eigenvectorBits, into: &workspace.widenedEigenvectors)
            workspace.widenedState = current
        }
        return workspace.widenedEigenvectors
    }

    /// The bfloat16 bits of `B` (empty with Float32 storage): what a bfloat16 checkpoint stores.
    public var eigenvectorStorageBits: [UInt16] { eigenvectorBits }

    /// `d`.
    public var eigenvalues: [Scalar] { stored.eigenvalues }

    /// Moves `stored.eigenvectors` into bfloat16 storage if that is the dtype, rounding, with the
    /// defect bound `defect` of the unrounded `B` grown by what rounding did (see `storeRounded`).
    private func keepEigenvectors(defect: Scalar) {
        guard stateDType == .bfloat16 else { return }
        stored.defectBound = storeRounded(&stored.eigenvectors, defect: defect)
        stored.eigenvectors = Matrix(rows: 0, columns: 0)
        workspace.widenedState = nil
    }

    /// Rounds `matrix` (this factor's new `B`, `Scalar == Float`) to bfloat16 in place and into
    /// `eigenvectorBits`, and returns a bound on `||B~^T B~ - I||_F` for the rounded `B~ = B + E`
    /// given `defect >= ||B^T B - I||_F`:
    ///
    ///     ||B~^T B~ - I||_F <= defect + 2 ||B||_2 ||E||_F + ||E||_F²,   ||B||_2 <= sqrt(1 + defect)
    ///
    /// plus the rounding of measuring it (`NewtonSchulzGate.roundingAllowance`).
    private func storeRounded(_ matrix: inout Matrix<Scalar>, defect: Scalar) -> Scalar {
        let squares = BFloat16Matrix.storeRounding(&matrix, into: &eigenvectorBits)
        // Values already in bfloat16 (a state saved that way) come back unchanged, and so does the bound.
        guard squares > 0 else { return defect }
        let rounding = squares.squareRoot()
        let bound = Double(defect) + 2 * (1 + Double(defect)).squareRoot() * rounding + rounding * rounding
        return Scalar(bound) + NewtonSchulzGate<Scalar>.roundingAllowance(dimension: matrix.rows)
    }

    // MARK: - Updates

    /// One step towards the curvature `H` (k x k, symmetric, possibly indefinite).
    /// Costs two GEMMs for `Hh = B^T H B` plus the step.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func update(curvature: Matrix<Scalar>) throws(SpectralFactorError) -> FactorUpdateOutcome {
        let k = dimension
        precondition(curvature.rows == k && curvature.columns == k,
                     "SpectralFactor.update: curvature is \(curvature.rows) x \(curvature.columns), factor is \(k)")
        let eigenvectors = self.eigenvectors
        var projection = workspace.take(rows: k, columns: k)
        BLAS.gemm(curvature, eigenvectors, into: &projection)
        workspace.rotatedCurvature.resize(rows: k, columns: k)
        BLAS.gemm(eigenvectors, projection, transposeA: true, into: &workspace.rotatedCurvature)
        workspace.give(projection)
        workspace.rotatedCurvature.symmetrize()
        return try updateFromRotatedCurvature()
    }

    /// One step towards `H = weight * U U^T` without forming `H`: `A = B^T U`, `Hh = weight A A^T`.
    /// `U` is `k x s`, or `s x k` with `transposed` (then `H = weight U^T U`). `rate` replaces
    /// the options' `curvatureLearningRate` for this step (a factor updated every few steps).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func update(
        curvatureFactor factor: Matrix<Scalar>, transposed: Bool = false, weight: Scalar = 1, rate: Scalar? = nil
    ) throws(SpectralFactorError) -> FactorUpdateOutcome {
        let k = dimension
        let (rows, samples) = transposed ? (factor.columns, factor.rows) : (factor.rows, factor.columns)
        precondition(rows == k, "SpectralFactor.update: curvature factor has \(rows) rows for a factor of \(k)")
        var projection = workspace.take(rows: k, columns: samples)
        BLAS.gemm(eigenvectors, factor, transposeA: true, transposeB: transposed, into: &projection)
        workspace.rotatedCurvature.resize(rows: k, columns: k)
        // Only the upper triangle and the diagonal of Hh are read by the step.
        BLAS.syrk(projection, alpha: weight, beta: 0, into: &workspace.rotatedCurvature, mirror: false)
        workspace.give(projection)
        return try updateFromRotatedCurvature(rate: rate)
    }

    /// One step given `Hh = B^T H B` directly (k x k, symmetric; only its upper triangle and
    /// diagonal are read): for callers that build the
    /// curvature in the eigenbasis themselves (SPD problems, covariance adaptation).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func update(rotatedCurvature curvature: Matrix<Scalar>) throws(SpectralFactorError) -> FactorUpdateOutcome {
        workspace.rotatedCurvature.assign(curvature)
        return try updateFromRotatedCurvature()
    }

    /// Damps `rotatedCurvature`, takes the standard log-eigenvalue step and the step.
    private func updateFromRotatedCurvature(rate given: Scalar? = nil) throws(SpectralFactorError) -> FactorUpdateOutcome {
        if options.curvatureDamping > 0 { workspace.rotatedCurvature.addToDiagonal(Scalar(options.curvatureDamping)) }
        let rate = given ?? Scalar(options.curvatureLearningRate)
        SpectralKernels.logEigenvalueStep(
            rotatedCurvature: workspace.rotatedCurvature, eigenvalues: stored.eigenvalues, scale: rate, into: &workspace.logStep)
        return try step(rotatedCurvature: workspace.rotatedCurvature, logEigenvalueStep: workspace.logStep, rotationScale: rate)
    }

    /// The general step: rotation `K` gap-damped from `rotatedCurvature` (upper triangle read) with `rotationScale` in
    /// place of beta2, eigenvalues moved by `logEigenvalueStep` through the eigenvalue map. The
    /// Kronecker `kl` mode and covariance adaptation call this with their own `m` and scale.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func step(
        rotatedCurvature curvature: Matrix<Scalar>, logEigenvalueStep step: [Scalar], rotationScale: Scalar
    ) throws(SpectralFactorError) -> FactorUpdateOutcome {
        let norm = SpectralKernels.gapDampedRotation(
            rotatedCurvature: curvature, eigenvalues: stored.eigenvalues, scale: rotationScale,
            gapDamping: Scalar(options.gapDamping), into: &workspace.rotation, rowSums: &workspace.rowSums)
        if let clip = options.rotationClip, norm > Scalar(clip) {
            workspace.rotation.scale(by: Scalar(clip) / norm)
        }
        guard SpectralKernels.mapEigenvalues(
            stored.eigenvalues, logStep: step, map: options.eigenvalueMap, into: &workspace.candidateEigenvalues)
        else {
            return try reject("eigenvalues not finite and positive after the \(options.eigenvalueMap.rawValue) map")
        }
        let clippedNorm = options.rotationClip.map { Swift.min(norm, Scalar($0)) } ?? norm
        let gate = options.newtonSchulzTolerance.map {
            NewtonSchulzGate(tolerance: NewtonSchulzGate<Scalar>.tolerance(float32: $0), bound: stored.defectBound)
        }
        let outcome: RetractionOutcome<Scalar>
        do {
            outcome = try options.retraction.apply(
                to: eigenvectors, rotation: workspace.rotation, rotationNorm: clippedNorm, gate: gate,
                workspace: workspace.retraction, into: &workspace.candidateEigenvectors)
        } catch {
            return try reject("retraction failed: \(error)")
        }
        let error = outcome.defect
        guard error.isFinite else { return try reject("eigenvectors not finite") }
        guard error <= Scalar(options.orthogonalityBound) else {
            return try reject("orthogonality error \(error) above the bound \(options.orthogonalityBound)")
        }
        switch stateDType {
        case .float32:
            swap(&stored.eigenvectors, &workspace.candidateEigenvectors)
            stored.defectBound = error
        case .bfloat16:
            stored.defectBound = storeRounded(&workspace.candidateEigenvectors, defect: error)
            swap(&workspace.widenedEigenvectors, &workspace.candidateEigenvectors)
        }
        swap(&stored.eigenvalues, &workspace.candidateEigenvalues)
        if outcome.ranPolarStep { stored.polarSteps += 1 }
        stored.updates += 1
        stateVersion += 1
        stored.consecutiveFailures = 0
        if stateDType == .bfloat16 {
            workspace.widenedState = .init(factor: ObjectIdentifier(self), version: stateVersion)
        }
        return .accepted
    }

    /// Moves the eigenvalues alone through the eigenvalue map, `d <- d ⊙ map(m)`, keeping the
    /// basis: for a caller that accumulates the rotation in the current basis over several steps
    /// and retracts once (covariance adaptation's lazy basis updates).
    @discardableResult
    public func moveEigenvalues(logStep step: [Scalar]) throws(SpectralFactorError) -> FactorUpdateOutcome {
        guard SpectralKernels.mapEigenvalues(
            stored.eigenvalues, logStep: step, map: options.eigenvalueMap, into: &workspace.candidateEigenvalues)
        else {
            return try reject("eigenvalues not finite and positive after the \(options.eigenvalueMap.rawValue) map")
        }
        swap(&stored.eigenvalues, &workspace.candidateEigenvalues)
        stateVersion += 1
        stored.consecutiveFailures = 0
        return .accepted
    }

    private func reject(_ reason: String) throws(SpectralFactorError) -> FactorUpdateOutcome {
        stored.failures += 1
        stored.consecutiveFailures += 1
        if stored.consecutiveFailures >= options.maxConsecutiveFailures {
            throw .tooManyFailures(count: stored.consecutiveFailures, lastReason: reason)
        }
        return .rejected(reason: reason)
    }

    /// Divides the eigenvalues by their geometric mean, so that `det S = prod(d) = 1`, and returns
    /// the mean (the `kl` mode moves it into its scalar).
    @discardableResult
    public func normalizeDeterminant() -> Scalar {
        var logSum: Scalar = 0
        for value in stored.eigenvalues { logSum += Scalar.log(value) }
        let mean = Scalar.exp(logSum / Scalar(dimension))
        for index in stored.eigenvalues.indices { stored.eigenvalues[index] /= mean }
        stateVersion += 1
        return mean
    }

    /// Scales every eigenvalue by `factor` (> 0).
    public func scaleEigenvalues(by factor: Scalar) {
        precondition(factor > 0 && factor.isFinite, "SpectralFactor.scaleEigenvalues: factor \(factor)")
        for index in stored.eigenvalues.indices { stored.eigenvalues[index] *= factor }
        stateVersion += 1
    }

    // MARK: - Roots

    /// `result = S^(-1/p) G` for `G` with `k` rows, any real `p > 0` (two GEMMs).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func applyInverseRoot(
        power: Double, damping: RootDamping = .standard, to gradient: Matrix<Scalar>,
        into result: inout Matrix<Scalar>
    ) {
        precondition(gradient.rows == dimension, "applyInverseRoot: G has \(gradient.rows) rows, factor is \(dimension)")
        InverseRoot.scales(eigenvalues: stored.eigenvalues, power: power, damping: damping, into: &workspace.rootScales)
        var scratch = workspace.take(rows: dimension, columns: gradient.columns)
        InverseRoot.applyLeft(
            eigenvectors: eigenvectors, scales: workspace.rootScales, to: gradient, scratch: &scratch, into: &result)
        workspace.give(scratch)
    }

    /// `result = G S^(-1/p)` for `G` with `k` columns.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func applyInverseRootFromRight(
        power: Double, damping: RootDamping = .standard, to gradient: Matrix<Scalar>,
        into result: inout Matrix<Scalar>
    ) {
        precondition(gradient.columns == dimension, "applyInverseRootFromRight: G has \(gradient.columns) columns, factor is \(dimension)")
        InverseRoot.scales(eigenvalues: stored.eigenvalues, power: power, damping: damping, into: &workspace.rootScales)
        var scratch = workspace.take(rows: gradient.rows, columns: dimension)
        InverseRoot.applyRight(
            eigenvectors: eigenvectors, scales: workspace.rootScales, to: gradient, scratch: &scratch, into: &result)
        workspace.give(scratch)
    }

    /// `(d + eps)^(-1/p)`, the diagonal of the root in the eigenbasis.
    public func inverseRootScales(power: Double, damping: RootDamping = .standard, into scales: inout [Scalar]) {
        InverseRoot.scales(eigenvalues: stored.eigenvalues, power: power, damping: damping, into: &scales)
    }

    // MARK: - Health

    /// Orthogonality (measured: one k³ product), spectrum and failure counts.
    public func measureHealth() -> FactorHealth {
        let error = Retraction.measureOrthogonality(eigenvectors, workspace: workspace.retraction)
        return FactorHealth(
            dimension: dimension,
            orthogonalityError: Double(error),
            minEigenvalue: Double(stored.eigenvalues.min()!),
            maxEigenvalue: Double(stored.eigenvalues.max()!),
            updates: stored.updates, failures: stored.failures, consecutiveFailures: stored.consecutiveFailures,
            polarSteps: stored.polarSteps)
    }
}

/// A factor's health: how orthogonal its eigenvectors are, its spectrum, its failure counts.
public struct FactorHealth: Sendable, Equatable, Codable {
    /// `k`: the factor is k x k.
    public var dimension: Int
    /// `||B^T B - I||_F`.
    public var orthogonalityError: Double
    /// `min(d)`, the smallest eigenvalue.
    public var minEigenvalue: Double
    /// `max(d)`, the largest eigenvalue.
    public var maxEigenvalue: Double
    /// Accepted updates so far.
    public var updates: Int
    /// Updates the failure policy rejected, in total.
    public var failures: Int
    /// Updates rejected since the last accepted one; `maxConsecutiveFailures` of them throw.
    public var consecutiveFailures: Int
    /// Updates whose retraction ran a Newton-Schulz step.
    public var polarSteps: Int

    /// `max(d) / min(d)`.
    public var conditionNumber: Double { maxEigenvalue / minEigenvalue }

    /// A record of the given measurements and counters (`SpectralFactor.measureHealth()` makes
    /// them from a factor).
    public init(
        dimension: Int, orthogonalityError: Double, minEigenvalue: Double, maxEigenvalue: Double,
        updates: Int, failures: Int, consecutiveFailures: Int, polarSteps: Int = 0
    ) {
        self.dimension = dimension
        self.orthogonalityError = orthogonalityError
        self.minEigenvalue = minEigenvalue
        self.maxEigenvalue = maxEigenvalue
        self.updates = updates
        self.failures = failures
        self.consecutiveFailures = consecutiveFailures
        self.polarSteps = polarSteps
    }
}
