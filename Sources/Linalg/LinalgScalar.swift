internal import COpenBLAS
@_exported import RealModule

/// A floating-point type that OpenBLAS and LAPACK compute with: `Float` (the default for training)
/// and `Double` (for references and tests that need 1e-12 accuracy). Elementary functions (`exp`,
/// `log`, `pow`) come from swift-numerics' `Real`, re-exported here.
///
/// Each requirement forwards to the `s` or `d` routine of the same name; callers use the typed
/// wrappers in `BLAS`, `SymmetricEigensolver`, `LUFactorization` and `CholeskyFactor` rather than these entry points.
public protocol LinalgScalar: BinaryFloatingPoint, Real, BitwiseCopyable, Sendable, Codable, SIMDScalar
where Self.RawSignificand: FixedWidthInteger {
    /// A short name for messages and benchmark tables ("Float32", "Float64").
    static var typeName: String { get }

    /// `e^x` for elementwise kernels (GELU, softmax): for Float the branch-free
    /// `VectorExponential.exp` (within 2 ulp), which the compiler vectorizes inside a loop; for
    /// Double, libm's `exp`, as the references that use Double need its accuracy.
    static func elementwiseExp(_ x: Self) -> Self

    /// Row-major `?gemm`.
    static func _gemm(
        _ transA: Bool, _ transB: Bool,
        _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Self,
        _ a: UnsafePointer<Self>, _ lda: Int32, _ b: UnsafePointer<Self>, _ ldb: Int32,
        _ beta: Self, _ c: UnsafeMutablePointer<Self>, _ ldc: Int32)

    /// Row-major `?syrk` into the upper triangle of `c`.
    static func _syrk(
        _ trans: Bool, _ n: Int32, _ k: Int32, _ alpha: Self,
        _ a: UnsafePointer<Self>, _ lda: Int32, _ beta: Self,
        _ c: UnsafeMutablePointer<Self>, _ ldc: Int32)

    /// Row-major `?symm` reading the upper triangle of the symmetric `a`; `right`: `C = alpha B A + beta C`.
    static func _symm(
        _ right: Bool, _ m: Int32, _ n: Int32, _ alpha: Self, _ a: UnsafePointer<Self>, _ lda: Int32,
        _ b: UnsafePointer<Self>, _ ldb: Int32, _ beta: Self, _ c: UnsafeMutablePointer<Self>, _ ldc: Int32)

    /// Row-major `?gemv` with unit strides.
    static func _gemv(
        _ trans: Bool, _ m: Int32, _ n: Int32, _ alpha: Self,
        _ a: UnsafePointer<Self>, _ lda: Int32, _ x: UnsafePointer<Self>, _ beta: Self,
        _ y: UnsafeMutablePointer<Self>)

    /// `?dot` with unit strides.
    static func _dot(_ n: Int32, _ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>) -> Self

    /// Column-major `?syevd_work` (jobz = 'V', uplo = 'U'); lwork = liwork = -1 is a size query.
    static func _syevd(
        _ n: Int32, _ a: UnsafeMutablePointer<Self>, _ lda: Int32, _ w: UnsafeMutablePointer<Self>,
        _ work: UnsafeMutablePointer<Self>, _ lwork: Int32,
        _ iwork: UnsafeMutablePointer<Int32>, _ liwork: Int32) -> Int32

    /// Column-major `?getrf_work`.
    static func _getrf(
        _ n: Int32, _ a: UnsafeMutablePointer<Self>, _ lda: Int32,
        _ pivots: UnsafeMutablePointer<Int32>) -> Int32

    /// Column-major `?getrs_work`; `transposed` solves with the transpose of the factored matrix.
    static func _getrs(
        _ transposed: Bool, _ n: Int32, _ nrhs: Int32, _ a: UnsafePointer<Self>, _ lda: Int32,
        _ pivots: UnsafePointer<Int32>, _ b: UnsafeMutablePointer<Self>, _ ldb: Int32) -> Int32

    /// Column-major `?potrf_work` of the lower triangle (row-major: the upper factor R, A = R^T R).
    static func _potrf(_ n: Int32, _ a: UnsafeMutablePointer<Self>, _ lda: Int32) -> Int32

    /// Row-major `?trmm` from the left with an upper-triangular, non-unit `a`: `B = alpha A B`.
    static func _trmm(
        _ m: Int32, _ n: Int32, _ alpha: Self, _ a: UnsafePointer<Self>, _ lda: Int32,
        _ b: UnsafeMutablePointer<Self>, _ ldb: Int32)
}

extension Float: LinalgScalar {
    public static var typeName: String { "Float32" }

    @inlinable @inline(__always)
    public static func elementwiseExp(_ x: Float) -> Float { VectorExponential.exp(x) }

    public static func _gemm(
        _ transA: Bool, _ transB: Bool,
        _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>, _ ldb: Int32,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32
    ) {
        cblas_sgemm(CblasRowMajor, cblasTranspose(transA), cblasTranspose(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func _syrk(
        _ trans: Bool, _ n: Int32, _ k: Int32, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int32, _ beta: Float,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int32
    ) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, cblasTranspose(trans), n, k, alpha, a, lda, beta, c, ldc)
    }

    public static func _symm(
        _ right: Bool, _ m: Int32, _ n: Int32, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32,
        _ b: UnsafePointer<Float>, _ ldb: Int32, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32
    ) {
        cblas_ssymm(CblasRowMajor, right ? CblasRight : CblasLeft, CblasUpper, m, n, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func _gemv(
        _ trans: Bool, _ m: Int32, _ n: Int32, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int32, _ x: UnsafePointer<Float>, _ beta: Float,
        _ y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, cblasTranspose(trans), m, n, alpha, a, lda, x, 1, beta, y, 1)
    }

    public static func _dot(_ n: Int32, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(n, x, 1, y, 1)
    }

    public static func _syevd(
        _ n: Int32, _ a: UnsafeMutablePointer<Float>, _ lda: Int32, _ w: UnsafeMutablePointer<Float>,
        _ work: UnsafeMutablePointer<Float>, _ lwork: Int32,
        _ iwork: UnsafeMutablePointer<Int32>, _ liwork: Int32
    ) -> Int32 {
        LAPACKE_ssyevd_work(
            LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")),
            n, a, lda, w, work, lwork, iwork, liwork)
    }

    public static func _getrf(
        _ n: Int32, _ a: UnsafeMutablePointer<Float>, _ lda: Int32,
        _ pivots: UnsafeMutablePointer<Int32>
    ) -> Int32 {
        LAPACKE_sgetrf_work(LAPACK_COL_MAJOR, n, n, a, lda, pivots)
    }

    public static func _getrs(
        _ transposed: Bool, _ n: Int32, _ nrhs: Int32, _ a: UnsafePointer<Float>, _ lda: Int32,
        _ pivots: UnsafePointer<Int32>, _ b: UnsafeMutablePointer<Float>, _ ldb: Int32
    ) -> Int32 {
        LAPACKE_sgetrs_work(LAPACK_COL_MAJOR, lapackTranspose(transposed), n, nrhs, a, lda, pivots, b, ldb)
    }

    public static func _potrf(_ n: Int32, _ a: UnsafeMutablePointer<Float>, _ lda: Int32) -> Int32 {
        LAPACKE_spotrf_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), n, a, lda)
    }

    public static func _trmm(
        _ m: Int32, _ n: Int32, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32,
        _ b: UnsafeMutablePointer<Float>, _ ldb: Int32
    ) {
        cblas_strmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, m, n, alpha, a, lda, b, ldb)
    }
}

extension Double: LinalgScalar {
    public static var typeName: String { "Float64" }

    @inlinable @inline(__always)
    public static func elementwiseExp(_ x: Double) -> Double { Double.exp(x) }

    public static func _gemm(
        _ transA: Bool, _ transB: Bool,
        _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Double,
        _ a: UnsafePointer<Double>, _ lda: Int32, _ b: UnsafePointer<Double>, _ ldb: Int32,
        _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int32
    ) {
        cblas_dgemm(CblasRowMajor, cblasTranspose(transA), cblasTranspose(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func _syrk(
        _ trans: Bool, _ n: Int32, _ k: Int32, _ alpha: Double,
        _ a: UnsafePointer<Double>, _ lda: Int32, _ beta: Double,
        _ c: UnsafeMutablePointer<Double>, _ ldc: Int32
    ) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, cblasTranspose(trans), n, k, alpha, a, lda, beta, c, ldc)
    }

    public static func _symm(
        _ right: Bool, _ m: Int32, _ n: Int32, _ alpha: Double, _ a: UnsafePointer<Double>, _ lda: Int32,
        _ b: UnsafePointer<Double>, _ ldb: Int32, _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int32
    ) {
        cblas_dsymm(CblasRowMajor, right ? CblasRight : CblasLeft, CblasUpper, m, n, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func _gemv(
        _ trans: Bool, _ m: Int32, _ n: Int32, _ alpha: Double,
        _ a: UnsafePointer<Double>, _ lda: Int32, _ x: UnsafePointer<Double>, _ beta: Double,
        _ y: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemv(CblasRowMajor, cblasTranspose(trans), m, n, alpha, a, lda, x, 1, beta, y, 1)
    }

    public static func _dot(_ n: Int32, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        cblas_ddot(n, x, 1, y, 1)
    }

    public static func _syevd(
        _ n: Int32, _ a: UnsafeMutablePointer<Double>, _ lda: Int32, _ w: UnsafeMutablePointer<Double>,
        _ work: UnsafeMutablePointer<Double>, _ lwork: Int32,
        _ iwork: UnsafeMutablePointer<Int32>, _ liwork: Int32
    ) -> Int32 {
        LAPACKE_dsyevd_work(
            LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")),
            n, a, lda, w, work, lwork, iwork, liwork)
    }

    public static func _getrf(
        _ n: Int32, _ a: UnsafeMutablePointer<Double>, _ lda: Int32,
        _ pivots: UnsafeMutablePointer<Int32>
    ) -> Int32 {
        LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, n, n, a, lda, pivots)
    }

    public static func _getrs(
        _ transposed: Bool, _ n: Int32, _ nrhs: Int32, _ a: UnsafePointer<Double>, _ lda: Int32,
        _ pivots: UnsafePointer<Int32>, _ b: UnsafeMutablePointer<Double>, _ ldb: Int32
    ) -> Int32 {
        LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, lapackTranspose(transposed), n, nrhs, a, lda, pivots, b, ldb)
    }

    public static func _potrf(_ n: Int32, _ a: UnsafeMutablePointer<Double>, _ lda: Int32) -> Int32 {
        LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), n, a, lda)
    }

    public static func _trmm(
        _ m: Int32, _ n: Int32, _ alpha: Double, _ a: UnsafePointer<Double>, _ lda: Int32,
        _ b: UnsafeMutablePointer<Double>, _ ldb: Int32
    ) {
        cblas_dtrmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, m, n, alpha, a, lda, b, ldb)
    }
}

@inline(__always)
private func cblasTranspose(_ transposed: Bool) -> CBLAS_TRANSPOSE {
    transposed ? CblasTrans : CblasNoTrans
}

@inline(__always)
private func lapackTranspose(_ transposed: Bool) -> CChar {
    CChar(UInt8(ascii: transposed ? "T" : "N"))
}
