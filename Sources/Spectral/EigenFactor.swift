import Linalg

/// The reference the spectral factor replaces: the exact moving average
/// `L <- (1 - beta2) L + beta2 H` and its roots from a LAPACK eigendecomposition (`?syevd`),
/// recomputed on demand (Eigen-Shampoo recomputes every T steps; ALGORITHM.md section 4).
public final class EigenFactor<Scalar: LinalgScalar> {
    /// `L`, the exact moving average of the curvature.
    public private(set) var statistic: Matrix<Scalar>
    /// The EMA weight of new curvature.
    public let curvatureLearningRate: Scalar
    /// Eigenvalues of `L` at the last `recomputeRoot()` (ascending).
    public private(set) var eigenvalues: [Scalar]
    /// Eigenvectors of `L` at the last `recomputeRoot()` (columns).
    public private(set) var eigenvectors: Matrix<Scalar>
    /// Updates of the statistic.
    public private(set) var updates = 0
    /// Incremented whenever the eigendecomposition (the root) changes.
    public private(set) var rootVersion = 0
    /// With bfloat16, `L` and the eigenvectors are rounded to bfloat16 whenever they change, so
    /// they are exactly what bfloat16 storage would hold (the memory stays Float32: this is the
    /// baseline's numerics in bfloat16, for comparison; a checkpoint stores them as BF16).
    public let stateDType: StateDType
    /// Eigendecompositions whose smallest eigenvalue was not positive (the root clamps it to 0
    /// before damping): the statistic lost definiteness, by rounding at least.
    public private(set) var indefiniteRoots = 0
    /// The lowest `min(eigenvalue) / max(eigenvalue)` of any eigendecomposition so far (1 before
    /// the first): how far below zero the statistic's spectrum went, relative to its scale.
    public private(set) var lowestEigenvalueRatio: Scalar = 1

    private var solver: SymmetricEigensolver<Scalar>
    private var candidateEigenvalues: [Scalar] = []
    private var candidateEigenvectors = Matrix<Scalar>(rows: 0, columns: 0)
    private var scales: [Scalar] = []
    private var scratch = Matrix<Scalar>(rows: 0, columns: 0)

    /// `L = initialValue I`; the root starts as that of `L`.
    public init(dimension: Int, initialValue: Scalar = 1, curvatureLearningRate: Scalar, stateDType: StateDType = .float32) {
        precondition(dimension >= 1, "EigenFactor: dimension \(dimension)")
        precondition(stateDType == .float32 || Scalar.self == Float.self, "EigenFactor: bfloat16 storage is for Float factors")
        self.stateDType = stateDType
        statistic = .identity(dimension)
        statistic.scale(by: initialValue)
        Self.keep(&statistic, as: stateDType)
        self.curvatureLearningRate = curvatureLearningRate
        eigenvalues = [Scalar](repeating: statistic[0, 0], count: dimension)
        eigenvectors = .identity(dimension)
        solver = SymmetricEigensolver(dimension: dimension)
    }

    /// `k`: `L` is k x k.
    public var dimension: Int { statistic.rows }

    /// Replaces the statistic, its last eigendecomposition and the update count with saved ones
    /// (a checkpoint); with bfloat16 the matrices are rounded (exact for state saved that way).
    public func restore(
        statistic saved: Matrix<Scalar>, eigenvalues savedValues: [Scalar], eigenvectors savedVectors: Matrix<Scalar>,
        updates savedUpdates: Int, indefiniteRoots savedIndefinite: Int = 0, lowestEigenvalueRatio savedRatio: Scalar = 1
    ) throws(SpectralFactorError) {
        let k = dimension
        guard saved.rows == k, saved.columns == k, savedValues.count == k, savedVectors.rows == k, savedVectors.columns == k else {
            throw .invalidState("saved Eigen-Shampoo factor does not have dimension \(k)")
        }
        guard saved.allFinite, savedVectors.allFinite, savedValues.allSatisfy(\.isFinite), savedUpdates >= 0, savedIndefinite >= 0, savedRatio.isFinite else {
            throw .invalidState("saved Eigen-Shampoo factor has non-finite values")
        }
        statistic = saved
        eigenvalues = savedValues
        eigenvectors = savedVectors
        updates = savedUpdates
        indefiniteRoots = savedIndefinite
        lowestEigenvalueRatio = savedRatio
        Self.keep(&statistic, as: stateDType)
        Self.keep(&eigenvectors, as: stateDType)
        rootVersion += 1
    }

    /// `L <- (1 - beta2) L + beta2 H`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(curvature: Matrix<Scalar>) {
        statistic.combine(1 - curvatureLearningRate, curvatureLearningRate, curvature)
        Self.keep(&statistic, as: stateDType)
        updates += 1
    }

    /// `L <- (1 - beta2) L + beta2 weight U U^T` (one syrk; `U^T U` with `transposed`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(curvatureFactor factor: Matrix<Scalar>, transposed: Bool = false, weight: Scalar = 1) {
        BLAS.syrk(
            factor, transpose: transposed, alpha: curvatureLearningRate * weight,
            beta: 1 - curvatureLearningRate, into: &statistic)
        Self.keep(&statistic, as: stateDType)
        updates += 1
    }

    /// Recomputes the eigendecomposition of `L` (the expensive step the spectral method avoids).
    /// On failure the previous eigendecomposition is kept.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func recomputeRoot() throws {
        try solver.decompose(statistic, eigenvalues: &candidateEigenvalues, eigenvectors: &candidateEigenvectors)
        Self.keep(&candidateEigenvectors, as: stateDType)
        if let smallest = candidateEigenvalues.min(), let largest = candidateEigenvalues.max() {
            if !(smallest > 0) { indefiniteRoots += 1 }
            if largest > 0 { lowestEigenvalueRatio = Swift.min(lowestEigenvalueRatio, smallest / largest) }
        }
        swap(&eigenvalues, &candidateEigenvalues)
        swap(&eigenvectors, &candidateEigenvectors)
        rootVersion += 1
    }

    /// Rounds `matrix` (a statistic or eigenvectors about to be kept) to what `dtype` holds.
    private static func keep(_ matrix: inout Matrix<Scalar>, as dtype: StateDType) {
        if dtype == .bfloat16 { BFloat16Matrix.round(&matrix) }
    }

    /// `result = L^(-1/p) G` with the eigendecomposition of the last `recomputeRoot()`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func applyInverseRoot(
        power: Double, damping: RootDamping = .standard, to gradient: Matrix<Scalar>,
        into result: inout Matrix<Scalar>
    ) {
        InverseRoot.scales(eigenvalues: eigenvalues, power: power, damping: damping, into: &scales)
        InverseRoot.applyLeft(eigenvectors: eigenvectors, scales: scales, to: gradient, scratch: &scratch, into: &result)
    }

    /// `result = G L^(-1/p)`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func applyInverseRootFromRight(
        power: Double, damping: RootDamping = .standard, to gradient: Matrix<Scalar>,
        into result: inout Matrix<Scalar>
    ) {
        InverseRoot.scales(eigenvalues: eigenvalues, power: power, damping: damping, into: &scales)
        InverseRoot.applyRight(eigenvectors: eigenvectors, scales: scales, to: gradient, scratch: &scratch, into: &result)
    }

    /// The dense root `L^(-1/p)` (tests and benchmarks: one more GEMM than applying it).
    public func inverseRoot(power: Double, damping: RootDamping = .standard) -> Matrix<Scalar> {
        InverseRoot.scales(eigenvalues: eigenvalues, power: power, damping: damping, into: &scales)
        return MatrixFunctions.reconstruct(eigenvectors: eigenvectors, eigenvalues: scales)
    }
}
