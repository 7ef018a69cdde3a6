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
/// A factor owns its workspaces (sized on the first update), so updates do not allocate. It is a
/// class: it is state plus scratch memory, updated in place, never copied.
public final class SpectralFactor<Scalar: LinalgScalar> {
    /// The learned state: what a checkpoint saves.
    public private(set) var state: SpectralFactorState<Scalar>
    /// The update rule.
    public let options: SpectralFactorOptions
    /// An upper bound on `||B^T B - I||_F` of the current eigenvectors, as known after the last
    /// accepted update (the state's `defectBound`); `measureHealth()` measures the defect.
    public var orthogonalityError: Scalar { state.defectBound }
    /// Incremented whenever `B` or `d` change, so that derived values (dense roots) can be cached.
    public private(set) var stateVersion = 0

    private var rotatedCurvature = Matrix<Scalar>(rows: 0, columns: 0)
    private var projection = Matrix<Scalar>(rows: 0, columns: 0)
    private var rotation = Matrix<Scalar>(rows: 0, columns: 0)
    private var candidateEigenvectors = Matrix<Scalar>(rows: 0, columns: 0)
    private var candidateEigenvalues: [Scalar] = []
    private var logStep: [Scalar] = []
    private var rootScales: [Scalar] = []
    private var rowSums: [Scalar] = []
    private var rootScratch = Matrix<Scalar>(rows: 0, columns: 0)
    private let retractionWorkspace = RetractionWorkspace<Scalar>()

    /// A factor `S = d0 I` of size `dimension`.
    public init(dimension: Int, initialEigenvalue: Scalar = 1, options: SpectralFactorOptions = .init()) {
        precondition(options.validationError() == nil, "SpectralFactor: \(options.validationError()!)")
        self.state = SpectralFactorState(dimension: dimension, initialEigenvalue: initialEigenvalue)
        self.options = options
    }

    /// A factor continuing from `state` (a checkpoint).
    public init(state: SpectralFactorState<Scalar>, options: SpectralFactorOptions = .init()) {
        precondition(options.validationError() == nil, "SpectralFactor: \(options.validationError()!)")
        self.state = state
        self.options = options
    }

    /// `k`.
    public var dimension: Int { state.eigenvalues.count }

    /// Replaces the state with a saved one of the same size (a checkpoint).
    public func restore(_ saved: SpectralFactorState<Scalar>) throws(SpectralFactorError) {
        guard saved.eigenvalues.count == dimension else {
            throw .invalidState("saved factor has dimension \(saved.eigenvalues.count), expected \(dimension)")
        }
        state = saved
        stateVersion += 1
    }
    /// `B`.
    public var eigenvectors: Matrix<Scalar> { state.eigenvectors }
    /// `d`.
    public var eigenvalues: [Scalar] { state.eigenvalues }

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
        projection.resize(rows: k, columns: k)
        BLAS.gemm(curvature, state.eigenvectors, into: &projection)
        rotatedCurvature.resize(rows: k, columns: k)
        BLAS.gemm(state.eigenvectors, projection, transposeA: true, into: &rotatedCurvature)
        rotatedCurvature.symmetrize()
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
        projection.resize(rows: k, columns: samples)
        BLAS.gemm(state.eigenvectors, factor, transposeA: true, transposeB: transposed, into: &projection)
        rotatedCurvature.resize(rows: k, columns: k)
        // Only the upper triangle and the diagonal of Hh are read by the step.
        BLAS.syrk(projection, alpha: weight, beta: 0, into: &rotatedCurvature, mirror: false)
        return try updateFromRotatedCurvature(rate: rate)
    }

    /// One step given `Hh = B^T H B` directly (k x k, symmetric; only its upper triangle and
    /// diagonal are read): for callers that build the
    /// curvature in the eigenbasis themselves (SPD problems, covariance adaptation).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func update(rotatedCurvature curvature: Matrix<Scalar>) throws(SpectralFactorError) -> FactorUpdateOutcome {
        rotatedCurvature.assign(curvature)
        return try updateFromRotatedCurvature()
    }

    /// Damps `rotatedCurvature`, takes the standard log-eigenvalue step and the step.
    private func updateFromRotatedCurvature(rate given: Scalar? = nil) throws(SpectralFactorError) -> FactorUpdateOutcome {
        if options.curvatureDamping > 0 { rotatedCurvature.addToDiagonal(Scalar(options.curvatureDamping)) }
        let rate = given ?? Scalar(options.curvatureLearningRate)
        SpectralKernels.logEigenvalueStep(
            rotatedCurvature: rotatedCurvature, eigenvalues: state.eigenvalues, scale: rate, into: &logStep)
        return try step(rotatedCurvature: rotatedCurvature, logEigenvalueStep: logStep, rotationScale: rate)
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
            rotatedCurvature: curvature, eigenvalues: state.eigenvalues, scale: rotationScale,
            gapDamping: Scalar(options.gapDamping), into: &rotation, rowSums: &rowSums)
        if let clip = options.rotationClip, norm > Scalar(clip) {
            rotation.scale(by: Scalar(clip) / norm)
        }
        guard SpectralKernels.mapEigenvalues(
            state.eigenvalues, logStep: step, map: options.eigenvalueMap, into: &candidateEigenvalues)
        else {
            return try reject("eigenvalues not finite and positive after the \(options.eigenvalueMap.rawValue) map")
        }
        let clippedNorm = options.rotationClip.map { Swift.min(norm, Scalar($0)) } ?? norm
        let gate = options.newtonSchulzTolerance.map {
            NewtonSchulzGate(tolerance: NewtonSchulzGate<Scalar>.tolerance(float32: $0), bound: state.defectBound)
        }
        let outcome: RetractionOutcome<Scalar>
        do {
            outcome = try options.retraction.apply(
                to: state.eigenvectors, rotation: rotation, rotationNorm: clippedNorm, gate: gate,
                workspace: retractionWorkspace, into: &candidateEigenvectors)
        } catch {
            return try reject("retraction failed: \(error)")
        }
        let error = outcome.defect
        guard error.isFinite else { return try reject("eigenvectors not finite") }
        guard error <= Scalar(options.orthogonalityBound) else {
            return try reject("orthogonality error \(error) above the bound \(options.orthogonalityBound)")
        }
        swap(&state.eigenvectors, &candidateEigenvectors)
        swap(&state.eigenvalues, &candidateEigenvalues)
        state.defectBound = error
        if outcome.ranPolarStep { state.polarSteps += 1 }
        state.updates += 1
        stateVersion += 1
        state.consecutiveFailures = 0
        return .accepted
    }

    /// Moves the eigenvalues alone through the eigenvalue map, `d <- d ⊙ map(m)`, keeping the
    /// basis: for a caller that accumulates the rotation in the current basis over several steps
    /// and retracts once (covariance adaptation's lazy basis updates).
    @discardableResult
    public func moveEigenvalues(logStep step: [Scalar]) throws(SpectralFactorError) -> FactorUpdateOutcome {
        guard SpectralKernels.mapEigenvalues(
            state.eigenvalues, logStep: step, map: options.eigenvalueMap, into: &candidateEigenvalues)
        else {
            return try reject("eigenvalues not finite and positive after the \(options.eigenvalueMap.rawValue) map")
        }
        swap(&state.eigenvalues, &candidateEigenvalues)
        stateVersion += 1
        state.consecutiveFailures = 0
        return .accepted
    }

    private func reject(_ reason: String) throws(SpectralFactorError) -> FactorUpdateOutcome {
        state.failures += 1
        state.consecutiveFailures += 1
        if state.consecutiveFailures >= options.maxConsecutiveFailures {
            throw .tooManyFailures(count: state.consecutiveFailures, lastReason: reason)
        }
        return .rejected(reason: reason)
    }

    /// Divides the eigenvalues by their geometric mean, so that `det S = prod(d) = 1`, and returns
    /// the mean (the `kl` mode moves it into its scalar).
    @discardableResult
    public func normalizeDeterminant() -> Scalar {
        var logSum: Scalar = 0
        for value in state.eigenvalues { logSum += Scalar.log(value) }
        let mean = Scalar.exp(logSum / Scalar(dimension))
        for index in state.eigenvalues.indices { state.eigenvalues[index] /= mean }
        stateVersion += 1
        return mean
    }

    /// Scales every eigenvalue by `factor` (> 0).
    public func scaleEigenvalues(by factor: Scalar) {
        precondition(factor > 0 && factor.isFinite, "SpectralFactor.scaleEigenvalues: factor \(factor)")
        for index in state.eigenvalues.indices { state.eigenvalues[index] *= factor }
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
        InverseRoot.scales(eigenvalues: state.eigenvalues, power: power, damping: damping, into: &rootScales)
        InverseRoot.applyLeft(
            eigenvectors: state.eigenvectors, scales: rootScales, to: gradient, scratch: &rootScratch, into: &result)
    }

    /// `result = G S^(-1/p)` for `G` with `k` columns.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func applyInverseRootFromRight(
        power: Double, damping: RootDamping = .standard, to gradient: Matrix<Scalar>,
        into result: inout Matrix<Scalar>
    ) {
        precondition(gradient.columns == dimension, "applyInverseRootFromRight: G has \(gradient.columns) columns, factor is \(dimension)")
        InverseRoot.scales(eigenvalues: state.eigenvalues, power: power, damping: damping, into: &rootScales)
        InverseRoot.applyRight(
            eigenvectors: state.eigenvectors, scales: rootScales, to: gradient, scratch: &rootScratch, into: &result)
    }

    /// `(d + eps)^(-1/p)`, the diagonal of the root in the eigenbasis.
    public func inverseRootScales(power: Double, damping: RootDamping = .standard, into scales: inout [Scalar]) {
        InverseRoot.scales(eigenvalues: state.eigenvalues, power: power, damping: damping, into: &scales)
    }

    // MARK: - Health

    /// Orthogonality (measured: one k³ product), spectrum and failure counts.
    public func measureHealth() -> FactorHealth {
        let error = Retraction.measureOrthogonality(state.eigenvectors, workspace: retractionWorkspace)
        return FactorHealth(
            dimension: dimension,
            orthogonalityError: Double(error),
            minEigenvalue: Double(state.eigenvalues.min()!),
            maxEigenvalue: Double(state.eigenvalues.max()!),
            updates: state.updates, failures: state.failures, consecutiveFailures: state.consecutiveFailures,
            polarSteps: state.polarSteps)
    }
}

/// A factor's health: how orthogonal its eigenvectors are, its spectrum, its failure counts.
public struct FactorHealth: Sendable, Equatable, Codable {
    public var dimension: Int
    /// `||B^T B - I||_F`.
    public var orthogonalityError: Double
    public var minEigenvalue: Double
    public var maxEigenvalue: Double
    public var updates: Int
    public var failures: Int
    public var consecutiveFailures: Int
    /// Updates whose retraction ran a Newton-Schulz step.
    public var polarSteps: Int

    /// `max(d) / min(d)`.
    public var conditionNumber: Double { maxEigenvalue / minEigenvalue }

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
