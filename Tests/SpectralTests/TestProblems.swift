import Linalg
import Spectral

/// The covariance of contract tests (b) and (c) (as in reference/check6.py, check10.py): size 20,
/// eigenvalues e^-3 .. e^3 evenly in log scale, with eigenvalues 5..8 tied (a 4-fold repeat).
func tiedSpectrumCovariance(seed: UInt64 = 1) -> Matrix<Double> {
    var generator = SeededGenerator(seed: seed)
    var spectrum = (0..<20).map { Double.exp(-3 + 6 * Double($0) / 19) }
    for index in 5...8 { spectrum[index] = spectrum[5] }
    return Matrix<Double>.randomSymmetric(eigenvalues: spectrum, using: &generator)
}

/// `||a - b||_F / ||b||_F` across precisions.
func relativeError<A: LinalgScalar, B: LinalgScalar>(_ a: Matrix<A>, _ b: Matrix<B>) -> Double {
    a.converted(to: Double.self).relativeDistance(to: b.converted(to: Double.self))
}

/// `||B^T B - I||_F`.
func orthogonalityError<Scalar: LinalgScalar>(_ basis: Matrix<Scalar>) -> Double {
    var gram = BLAS.product(basis, basis, transposeA: true)
    gram.addToDiagonal(-1)
    return Double(gram.frobeniusNorm)
}

/// `S^(-1/p)` of a symmetric positive-definite matrix by LAPACK, in Float64.
func referenceInverseRoot(_ s: Matrix<Double>, power: Double, epsilon: Double = 0) throws -> Matrix<Double> {
    try MatrixFunctions.symmetric(s) { Double.pow(Swift.max($0, 0) + epsilon, -1 / power) }
}
