import Synchronization

/// Typed, shape-checked wrappers of the BLAS routines spectrain uses.
///
/// The wrappers write into caller-owned outputs so hot loops reuse their buffers (`product`,
/// for set-up code and tests, returns a new matrix). Shape mismatches are programming errors
/// and stop with a message naming both shapes.
public enum BLAS {
    /// Floating-point operations of every matrix product so far (`gemm` 2 m n k, `syrk` n² k,
    /// `symm` 2 m n times the symmetric side, `trmm` m² n; `LUFactorization`'s getrf 2n³/3 and
    /// getrs 2 n² per right-hand side), in any precision and on any thread, for benchmarks
    /// that report achieved GFLOP/s of a whole pass: a relaxed atomic add per call, nothing next
    /// to the product itself.
    public static let productOperations = Atomic<Int>(0)

    /// `C = alpha * op(A) * op(B) + beta * C` on row-major buffers (raw form for flat parameter views).
    ///
    /// `op(A)` is `m x k`, `op(B)` is `k x n`, `C` is `m x n`; `lda`, `ldb`, `ldc` are the row strides
    /// of the stored (untransposed) operands.
    @inlinable
    public static func gemm<Scalar: LinalgScalar>(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Scalar, a: UnsafePointer<Scalar>, lda: Int,
        b: UnsafePointer<Scalar>, ldb: Int,
        beta: Scalar, c: UnsafeMutablePointer<Scalar>, ldc: Int
    ) {
        productOperations.add(2 &* m &* n &* k, ordering: .relaxed)
        Scalar._gemm(
            transposeA, transposeB, blasInt(m), blasInt(n), blasInt(k), alpha,
            a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// `C = alpha * op(A) * op(B) + beta * C`, `op` transposing where asked; `C` must already
    /// have the product's shape.
    @inlinable
    public static func gemm<Scalar: LinalgScalar>(
        _ a: Matrix<Scalar>, _ b: Matrix<Scalar>, transposeA: Bool = false, transposeB: Bool = false,
        alpha: Scalar = 1, beta: Scalar = 0, into c: inout Matrix<Scalar>
    ) {
        let (m, innerA) = transposeA ? (a.columns, a.rows) : (a.rows, a.columns)
        let (innerB, n) = transposeB ? (b.columns, b.rows) : (b.rows, b.columns)
        precondition(
            innerA == innerB,
            "BLAS.gemm: inner dimensions differ, op(A) is \(m) x \(innerA), op(B) is \(innerB) x \(n)")
        precondition(
            c.rows == m && c.columns == n,
            "BLAS.gemm: C is \(c.rows) x \(c.columns), the product is \(m) x \(n)")
        if m == 0 || n == 0 { return }
        if innerA == 0 {
            c.scale(by: beta)
            return
        }
        let (lda, ldb, ldc) = (max(1, a.columns), max(1, b.columns), max(1, c.columns))
        a.withUnsafeBufferPointer { aBuffer in
            b.withUnsafeBufferPointer { bBuffer in
                c.withUnsafeMutableBufferPointer { cBuffer in
                    gemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: innerA, alpha: alpha,
                        a: aBuffer.baseAddress!, lda: lda, b: bBuffer.baseAddress!, ldb: ldb,
                        beta: beta, c: cBuffer.baseAddress!, ldc: ldc)
                }
            }
        }
    }

    /// `op(A) * op(B)` as a new matrix (set-up code and tests; hot loops use `gemm(into:)`).
    @inlinable
    public static func product<Scalar: LinalgScalar>(
        _ a: Matrix<Scalar>, _ b: Matrix<Scalar>, transposeA: Bool = false, transposeB: Bool = false
    ) -> Matrix<Scalar> {
        let m = transposeA ? a.columns : a.rows
        let n = transposeB ? b.rows : b.columns
        var c = Matrix<Scalar>(rows: m, columns: n)
        gemm(a, b, transposeA: transposeA, transposeB: transposeB, into: &c)
        return c
    }

    /// Symmetric rank-k update: `C = alpha * A A^T + beta * C`, or with `transpose`
    /// `C = alpha * A^T A + beta * C`.
    ///
    /// BLAS writes only the upper triangle; with `mirror` (the default) the lower triangle is
    /// filled from it so `C` is a complete symmetric matrix.
    @inlinable
    public static func syrk<Scalar: LinalgScalar>(
        _ a: Matrix<Scalar>, transpose: Bool = false,
        alpha: Scalar = 1, beta: Scalar = 0, into c: inout Matrix<Scalar>, mirror: Bool = true
    ) {
        let (n, k) = transpose ? (a.columns, a.rows) : (a.rows, a.columns)
        precondition(
            c.rows == n && c.columns == n,
            "BLAS.syrk: C is \(c.rows) x \(c.columns), the result is \(n) x \(n)")
        if n == 0 { return }
        if k == 0 {
            c.scale(by: beta)
            return
        }
        productOperations.add(n &* n &* k, ordering: .relaxed)
        a.withUnsafeBufferPointer { aBuffer in
            c.withUnsafeMutableBufferPointer { cBuffer in
                Scalar._syrk(
                    transpose, blasInt(n), blasInt(k), alpha,
                    aBuffer.baseAddress!, blasInt(max(1, a.columns)), beta,
                    cBuffer.baseAddress!, blasInt(n))
            }
        }
        if mirror { c.copyUpperToLower() }
    }

    /// Triangular product from the left, `B = alpha * A B`, with `A` upper triangular (its strict
    /// lower triangle is not read).
    @inlinable
    public static func trmm<Scalar: LinalgScalar>(_ a: Matrix<Scalar>, alpha: Scalar = 1, into b: inout Matrix<Scalar>) {
        precondition(a.isSquare && a.rows == b.rows,
                     "BLAS.trmm: the triangular matrix is \(a.rows) x \(a.columns), B is \(b.rows) x \(b.columns)")
        if b.count == 0 { return }
        let (m, n) = (b.rows, b.columns)
        productOperations.add(m &* m &* n, ordering: .relaxed)
        a.withUnsafeBufferPointer { aBuffer in
            b.withUnsafeMutableBufferPointer { bBuffer in
                Scalar._trmm(blasInt(m), blasInt(n), alpha, aBuffer.baseAddress!, blasInt(m), bBuffer.baseAddress!, blasInt(n))
            }
        }
    }

    /// Product with a symmetric matrix of which only the upper triangle is read:
    /// `C = alpha * B A + beta * C` (`symmetricOnRight`) or `C = alpha * A B + beta * C`.
    @inlinable
    public static func symm<Scalar: LinalgScalar>(
        _ b: Matrix<Scalar>, symmetric a: Matrix<Scalar>, symmetricOnRight: Bool = true,
        alpha: Scalar = 1, beta: Scalar = 0, into c: inout Matrix<Scalar>
    ) {
        precondition(a.isSquare, "BLAS.symm: the symmetric operand is \(a.rows) x \(a.columns)")
        precondition(
            symmetricOnRight ? b.columns == a.rows : b.rows == a.rows,
            "BLAS.symm: B is \(b.rows) x \(b.columns), the symmetric matrix \(a.rows) x \(a.rows)")
        precondition(c.rows == b.rows && c.columns == b.columns,
                     "BLAS.symm: C is \(c.rows) x \(c.columns), the product is \(b.rows) x \(b.columns)")
        if b.count == 0 { return }
        let (m, n) = (b.rows, b.columns)
        let (lda, ldb, ldc) = (max(1, a.columns), max(1, b.columns), max(1, c.columns))
        productOperations.add(2 &* m &* n &* a.rows, ordering: .relaxed)
        a.withUnsafeBufferPointer { aBuffer in
            b.withUnsafeBufferPointer { bBuffer in
                c.withUnsafeMutableBufferPointer { cBuffer in
                    Scalar._symm(
                        symmetricOnRight, blasInt(m), blasInt(n), alpha, aBuffer.baseAddress!, blasInt(lda),
                        bBuffer.baseAddress!, blasInt(ldb), beta, cBuffer.baseAddress!, blasInt(ldc))
                }
            }
        }
    }

    /// `y = alpha * op(A) x + beta * y`, `op(A)` being `A^T` with `transpose`.
    @inlinable
    public static func gemv<Scalar: LinalgScalar>(
        _ a: Matrix<Scalar>, _ x: [Scalar], transpose: Bool = false,
        alpha: Scalar = 1, beta: Scalar = 0, into y: inout [Scalar]
    ) {
        let (outputs, inputs) = transpose ? (a.columns, a.rows) : (a.rows, a.columns)
        precondition(x.count == inputs, "BLAS.gemv: x has \(x.count) elements, op(A) has \(inputs) columns")
        precondition(y.count == outputs, "BLAS.gemv: y has \(y.count) elements, op(A) has \(outputs) rows")
        if outputs == 0 { return }
        if inputs == 0 {
            for index in y.indices { y[index] *= beta }
            return
        }
        a.withUnsafeBufferPointer { aBuffer in
            x.withUnsafeBufferPointer { xBuffer in
                y.withUnsafeMutableBufferPointer { yBuffer in
                    Scalar._gemv(
                        transpose, blasInt(a.rows), blasInt(a.columns), alpha,
                        aBuffer.baseAddress!, blasInt(max(1, a.columns)), xBuffer.baseAddress!, beta,
                        yBuffer.baseAddress!)
                }
            }
        }
    }
}

extension BLAS {
    /// `sum x_i y_i` (vectorised and, for long vectors, threaded by OpenBLAS).
    @inlinable
    public static func dot<Scalar: LinalgScalar>(_ x: UnsafeBufferPointer<Scalar>, _ y: UnsafeBufferPointer<Scalar>) -> Scalar {
        precondition(x.count == y.count, "BLAS.dot: \(x.count) and \(y.count) elements")
        guard let xBase = x.baseAddress, let yBase = y.baseAddress, !x.isEmpty else { return 0 }
        return Scalar._dot(blasInt(x.count), xBase, yBase)
    }
}

/// Converts a dimension to BLAS's 32-bit integer, stopping with a message if it does not fit.
@inlinable
func blasInt(_ value: Int) -> Int32 {
    guard let converted = Int32(exactly: value) else {
        preconditionFailure("BLAS: dimension \(value) exceeds the 32-bit BLAS interface")
    }
    return converted
}
