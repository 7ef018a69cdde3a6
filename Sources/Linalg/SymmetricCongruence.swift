/// `M^T A M` for a fixed symmetric A and any M, by the cheapest exact route A allows: through A's
/// Cholesky factor (a trmm and a syrk, 2k³ for k x k) when A is positive definite, else a symm and
/// a GEMM (4k³). The result is complete and symmetric.
public struct SymmetricCongruence<Scalar: LinalgScalar>: Sendable {
    /// A.
    public let matrix: Matrix<Scalar>
    /// A's Cholesky factor; nil when A is not numerically positive definite.
    public let factor: CholeskyFactor<Scalar>?

    /// Prepares congruences by the symmetric `a`, factoring it once if it is positive definite.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(_ a: Matrix<Scalar>) {
        matrix = a
        factor = try? CholeskyFactor(a)
    }

    /// `m^T A m` into `result` (resized), with `scratch` as the work buffer.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(to m: Matrix<Scalar>, scratch: inout Matrix<Scalar>, into result: inout Matrix<Scalar>) {
        if let factor {
            factor.congruence(m, scratch: &scratch, into: &result)
            return
        }
        scratch.resize(rows: matrix.rows, columns: m.columns)
        BLAS.symm(m, symmetric: matrix, symmetricOnRight: false, into: &scratch)
        result.resize(rows: m.columns, columns: m.columns)
        BLAS.gemm(m, scratch, transposeA: true, into: &result)
        result.symmetrize()
    }
}
