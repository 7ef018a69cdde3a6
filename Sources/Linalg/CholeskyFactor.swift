/// The Cholesky factor of a symmetric positive-definite matrix, `A = R^T R` with R upper
/// triangular (LAPACK `?potrf`), for congruences `B^T A B = (R B)^T (R B)` at half the cost of
/// two GEMMs: one triangular product (k³ for k x k) and one symmetric rank-k update (k³).
public struct CholeskyFactor<Scalar: LinalgScalar>: Sendable {
    /// R, upper triangular (the strict lower triangle holds zeros), row-major.
    public private(set) var upper: Matrix<Scalar>

    /// Factors the symmetric `a` (its lower triangle is read, which equals the upper).
    /// Throws `LinalgError.notPositiveDefinite` when `a` is not positive definite, and
    /// `nonFiniteInput` when it holds NaN or infinity.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(_ a: Matrix<Scalar>) throws {
        precondition(a.isSquare, "CholeskyFactor: matrix is \(a.rows) x \(a.columns), not square")
        guard a.allFinite else { throw LinalgError.nonFiniteInput(routine: "\(Scalar.typeName) potrf") }
        var factor = a
        let n = factor.rows
        if n > 0 {
            // Row-major memory is the column-major transpose: potrf's lower L (column-major) is
            // row-major R = L^T, upper.
            let info = factor.withUnsafeMutableBufferPointer { buffer in
                Scalar._potrf(blasInt(n), buffer.baseAddress!, blasInt(n))
            }
            if info < 0 { throw LinalgError.invalidArgument(routine: "\(Scalar.typeName) potrf", position: Int(-info)) }
            if info > 0 { throw LinalgError.notPositiveDefinite(routine: "\(Scalar.typeName) potrf", minor: Int(info)) }
            factor.withUnsafeMutableBufferPointer { r in
                for row in 1..<max(1, n) {
                    for column in 0..<row { r[row * n + column] = 0 }
                }
            }
        }
        upper = factor
    }

    /// `k`: A is k x k.
    public var dimension: Int { upper.rows }

    /// `B^T A B` for a `k x m` matrix B, into the `m x m` `result` (resized; complete and exactly
    /// symmetric): `scratch <- R B` (trmm), `result <- scratch^T scratch` (syrk).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func congruence(_ b: Matrix<Scalar>, scratch: inout Matrix<Scalar>, into result: inout Matrix<Scalar>) {
        precondition(b.rows == dimension, "CholeskyFactor.congruence: B has \(b.rows) rows, A is \(dimension) x \(dimension)")
        scratch.assign(b)
        BLAS.trmm(upper, into: &scratch)
        result.resize(rows: b.columns, columns: b.columns)
        BLAS.syrk(scratch, transpose: true, into: &result)
    }
}
