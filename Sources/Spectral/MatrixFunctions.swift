import Linalg

/// Matrix functions computed the expensive way: by eigendecomposition (symmetric matrices) or by
/// scaling and squaring (the exponential). They are the references the spectral method is
/// tested against and the machinery of the eigendecomposition-based baselines; the spectral
/// method itself never calls them.
public enum MatrixFunctions {
    /// `V Diag(f(w)) V^T` for the symmetric `a = V Diag(w) V^T` (LAPACK `?syevd`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func symmetric<Scalar: LinalgScalar>(
        _ a: Matrix<Scalar>, _ function: (Scalar) -> Scalar
    ) throws -> Matrix<Scalar> {
        let (eigenvalues, eigenvectors) = try SymmetricEigensolver.decompose(a)
        return reconstruct(eigenvectors: eigenvectors, eigenvalues: eigenvalues.map(function))
    }

    /// `V Diag(values) V^T`, symmetrised against rounding.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func reconstruct<Scalar: LinalgScalar>(
        eigenvectors: Matrix<Scalar>, eigenvalues values: [Scalar]
    ) -> Matrix<Scalar> {
        var scaled = eigenvectors
        scaled.scaleColumns(by: values)
        var result = BLAS.product(scaled, eigenvectors, transposeB: true)
        result.symmetrize()
        return result
    }

    /// `a^power` of a symmetric positive-definite matrix, for any real power.
    public static func power<Scalar: LinalgScalar>(_ a: Matrix<Scalar>, _ power: Scalar) throws -> Matrix<Scalar> {
        try symmetric(a) { Scalar.pow(Swift.max($0, 0), power) }
    }

    /// The principal logarithm of a symmetric positive-definite matrix.
    public static func logarithm<Scalar: LinalgScalar>(_ a: Matrix<Scalar>) throws -> Matrix<Scalar> {
        try symmetric(a) { Scalar.log($0) }
    }

    /// The exponential of a symmetric matrix.
    public static func symmetricExponential<Scalar: LinalgScalar>(_ a: Matrix<Scalar>) throws -> Matrix<Scalar> {
        try symmetric(a) { Scalar.exp($0) }
    }

    /// The exponential of any square matrix: scaling so that `||A / 2^s||_F <= 1/2`, a degree-18
    /// Taylor polynomial (truncation error below `2^-19 / 19! ≈ 2e-23`), then `s` squarings.
    public static func exponential<Scalar: LinalgScalar>(_ a: Matrix<Scalar>) -> Matrix<Scalar> {
        precondition(a.isSquare, "MatrixFunctions.exponential: \(a.rows) x \(a.columns) is not square")
        let n = a.rows
        let norm = a.frobeniusNorm
        var squarings = 0
        if norm > 0.5 {
            squarings = Int(Scalar.log2(norm / 0.5).rounded(.up))
        }
        var scaled = a
        scaled.scale(by: Scalar.pow(2, -squarings))
        var result = Matrix<Scalar>.identity(n)
        var term = Matrix<Scalar>.identity(n)
        var next = Matrix<Scalar>(rows: n, columns: n)
        for degree in 1...18 {
            BLAS.gemm(term, scaled, alpha: 1 / Scalar(degree), into: &next)
            swap(&term, &next)
            result.add(term)
        }
        for _ in 0..<squarings {
            BLAS.gemm(result, result, into: &next)
            swap(&result, &next)
        }
        return result
    }
}
