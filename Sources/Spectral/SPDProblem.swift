import Linalg
import Support

/// An optimization problem over symmetric positive-definite matrices, `min_S F(S)` (ALGORITHM.md
/// section 5), in the two forms its solvers need:
///
/// - spectral: the effective curvature `H_eff = S - 2 S grad F(S) S` seen in the eigenbasis of
///   `S = B Diag(d) B^T`, so that one spectral step moves S like the Riemannian gradient step
///   `S <- S - 2 beta2 S grad F S`;
/// - affine-invariant: the whitened gradient `W = S^(1/2) grad F(S) S^(1/2)`, for Riemannian
///   gradient descent `S <- S^(1/2) exp(-eta W) S^(1/2)`.
public struct SPDProblem<Scalar: LinalgScalar> {
    /// The objective `F(S)` and how the `targets` enter it.
    public enum Kind: String, NamedChoice {
        /// `F = tr(A S^-1) + log det S`, minimised at `S = A` (Gaussian covariance fitting).
        case gaussian
        /// `F = ||S - A||_F^2 / 2`, minimised at `S = A`; its effective curvature is indefinite.
        case frobenius
        /// `F = (1/2N) sum_k ||log(S^(-1/2) A_k S^(-1/2))||_F^2`, the Karcher (geometric) mean.
        case karcher
    }

    /// Which objective `F(S)` is minimised.
    public let kind: Kind
    /// `A` (gaussian, frobenius) or `A_1 ... A_N` (karcher).
    public let targets: [Matrix<Scalar>]
    /// `M^T A M` for each target, through its Cholesky factor (2k³ instead of 4k³).
    private let targetCongruences: [SymmetricCongruence<Scalar>]

    /// A problem of `kind` over SPD `targets` of one size: one target for gaussian and frobenius,
    /// `N >= 1` for karcher (other counts trap).
    public init(kind: Kind, targets: [Matrix<Scalar>]) {
        precondition(!targets.isEmpty, "SPDProblem: no target matrices")
        precondition(kind == .karcher || targets.count == 1, "SPDProblem: \(kind) takes one target, got \(targets.count)")
        self.kind = kind
        self.targets = targets
        self.targetCongruences = targets.map { SymmetricCongruence($0) }
    }

    /// `k`: the targets and `S` are k x k.
    public var dimension: Int { targets[0].rows }

    /// The minimiser when it has a closed form (`A` for gaussian and frobenius); nil for karcher.
    public var closedFormSolution: Matrix<Scalar>? { kind == .karcher ? nil : targets[0] }

    /// `F(S)` (by eigendecomposition where logarithms are needed; for reports, not for steps).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func objective(_ s: Matrix<Scalar>) throws -> Scalar {
        switch kind {
        case .gaussian:
            let (values, vectors) = try SymmetricEigensolver.decompose(s)
            let inverse = MatrixFunctions.reconstruct(eigenvectors: vectors, eigenvalues: values.map { 1 / $0 })
            let product = BLAS.product(targets[0], inverse)
            return product.trace + values.reduce(0) { $0 + Scalar.log($1) }
        case .frobenius:
            let difference = s - targets[0]
            return difference.frobeniusNorm * difference.frobeniusNorm / 2
        case .karcher:
            let inverseRoot = try MatrixFunctions.power(s, -0.5)
            var total: Scalar = 0
            for target in targets {
                let logarithm = try MatrixFunctions.logarithm(BLAS.product(BLAS.product(inverseRoot, target), inverseRoot))
                total += logarithm.frobeniusNorm * logarithm.frobeniusNorm
            }
            return total / Scalar(2 * targets.count)
        }
    }

    /// `Hh = B^T H_eff B` for `S = B Diag(d) B^T`, with `Ah = B^T A B`:
    ///
    ///     gaussian:   Hh = 2 Ah - D
    ///     frobenius:  Hh = D - 2 D (D - Ah) D
    ///     karcher:    Hh = D + (2/N) sum_k D^(1/2) log(D^(-1/2) Ah_k D^(-1/2)) D^(1/2)
    ///
    /// The first two are GEMMs and elementwise work only; the Karcher mean needs the matrix
    /// logarithms of its own objective (one symmetric eigendecomposition per target), but never
    /// a decomposition of S: its roots come from the factor.
    public func rotatedEffectiveCurvature(eigenvectors: Matrix<Scalar>, eigenvalues: [Scalar]) throws -> Matrix<Scalar> {
        try rotatedEffectiveCurvatureAndResidual(eigenvectors: eigenvectors, eigenvalues: eigenvalues).curvature
    }

    /// `Hh` (`rotatedEffectiveCurvature`) and, for gaussian and frobenius, `||D - Ah||_F`, which
    /// equals `||S - A||_F` when B is orthogonal (`B^T (S - A) B = D - Ah`), read off the `Ah` the
    /// curvature is built from: the distance to the solution without forming S. Nil for karcher.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func rotatedEffectiveCurvatureAndResidual(
        eigenvectors: Matrix<Scalar>, eigenvalues: [Scalar]
    ) throws -> (curvature: Matrix<Scalar>, residual: Scalar?) {
        let k = dimension
        var scratch = Matrix<Scalar>(rows: 0, columns: 0)
        func rotated(_ index: Int) -> Matrix<Scalar> { congruence(ofTarget: index, by: eigenvectors, scratch: &scratch) }
        func residual(_ rotatedTarget: Matrix<Scalar>) -> Scalar {
            var difference = rotatedTarget
            for i in 0..<k { difference[i, i] -= eigenvalues[i] }
            return difference.frobeniusNorm
        }
        switch kind {
        case .gaussian:
            let rotatedTarget = rotated(0)
            var curvature = 2 * rotatedTarget
            for i in 0..<k { curvature[i, i] -= eigenvalues[i] }
            return (curvature, residual(rotatedTarget))
        case .frobenius:
            // D - 2 D (D - Ah) D = D - 2 D^3 + 2 D Ah D.
            var curvature = rotated(0)
            let distance = residual(curvature)
            curvature.scaleRows(by: eigenvalues)
            curvature.scaleColumns(by: eigenvalues)
            curvature.scale(by: 2)
            for i in 0..<k {
                let d = eigenvalues[i]
                curvature[i, i] += d - 2 * d * d * d
            }
            return (curvature, distance)
        case .karcher:
            let inverseRoots = eigenvalues.map { 1 / $0.squareRoot() }
            var mean = Matrix<Scalar>(rows: k, columns: k)
            for index in targets.indices {
                var whitened = rotated(index)
                whitened.scaleRows(by: inverseRoots)
                whitened.scaleColumns(by: inverseRoots)
                whitened.symmetrize()
                mean.add(try MatrixFunctions.logarithm(whitened))
            }
            let roots = eigenvalues.map { $0.squareRoot() }
            mean.scaleRows(by: roots)
            mean.scaleColumns(by: roots)
            var curvature = (2 / Scalar(targets.count)) * mean
            for i in 0..<k { curvature[i, i] += eigenvalues[i] }
            return (curvature, nil)
        }
    }

    /// `W = S^(1/2) grad F(S) S^(1/2)` given `S^(1/2)` and `S^(-1/2)`:
    ///
    ///     gaussian:   W = I - S^(-1/2) A S^(-1/2)
    ///     frobenius:  W = S^(1/2) (S - A) S^(1/2)
    ///     karcher:    W = -(1/N) sum_k log(S^(-1/2) A_k S^(-1/2))
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func whitenedGradient(s: Matrix<Scalar>, root: Matrix<Scalar>, inverseRoot: Matrix<Scalar>) throws -> Matrix<Scalar> {
        var scratch = Matrix<Scalar>(rows: 0, columns: 0)
        // S^(-1/2) A S^(-1/2) is the congruence of A by the symmetric S^(-1/2).
        func whiten(_ index: Int) -> Matrix<Scalar> { congruence(ofTarget: index, by: inverseRoot, scratch: &scratch) }
        switch kind {
        case .gaussian:
            var gradient = -1 * whiten(0)
            gradient.addToDiagonal(1)
            return gradient
        case .frobenius:
            var gradient = BLAS.product(BLAS.product(root, s - targets[0]), root)
            gradient.symmetrize()
            return gradient
        case .karcher:
            var mean = Matrix<Scalar>(rows: dimension, columns: dimension)
            for index in targets.indices { mean.add(try MatrixFunctions.logarithm(whiten(index))) }
            return (-1 / Scalar(targets.count)) * mean
        }
    }
}

extension SPDProblem {
    /// `M^T A_index M`, symmetric (`SymmetricCongruence`).
    private func congruence(ofTarget index: Int, by matrix: Matrix<Scalar>, scratch: inout Matrix<Scalar>) -> Matrix<Scalar> {
        var result = Matrix<Scalar>(rows: 0, columns: 0)
        targetCongruences[index].apply(to: matrix, scratch: &scratch, into: &result)
        return result
    }

    /// A random instance: targets with eigenvalues evenly spaced in log scale over
    /// `[1/sqrt(c), sqrt(c)]` (`c` = `condition`) in random bases; karcher draws `count` targets
    /// whose spectra are each scaled by a random factor in `[1/2, 2]`.
    public static func random(
        kind: Kind, dimension: Int, condition: Double, count: Int = 1, seed: UInt64
    ) -> SPDProblem {
        precondition(dimension >= 1 && condition >= 1, "SPDProblem.random: dimension \(dimension), condition \(condition)")
        var generator = SeededGenerator(seed: seed)
        let spread = Double.log(condition) / 2
        func target(scale: Double) -> Matrix<Scalar> {
            let spectrum = (0..<dimension).map { index -> Scalar in
                let position = dimension == 1 ? 0 : -spread + 2 * spread * Double(index) / Double(dimension - 1)
                return Scalar(scale * Double.exp(position))
            }
            return Matrix<Scalar>.randomSymmetric(eigenvalues: spectrum, using: &generator)
        }
        switch kind {
        case .gaussian, .frobenius:
            return SPDProblem(kind: kind, targets: [target(scale: 1)])
        case .karcher:
            let targets = (0..<count).map { _ in target(scale: Double.exp(Double.random(in: -Double.log(2)...Double.log(2), using: &generator))) }
            return SPDProblem(kind: kind, targets: targets)
        }
    }
}
