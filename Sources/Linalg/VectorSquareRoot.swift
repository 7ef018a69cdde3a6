#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

extension VectorKernels {
    /// The square roots of four lanes, correctly rounded as `Float.squareRoot()` is, in one
    /// instruction where there is one.
    ///
    /// On Linux, `Float.squareRoot()` (and `SIMD4<Float>`'s, lane by lane) keeps C's errno
    /// contract: a scalar square root, a check, and a call to libm's `sqrtf` for negative
    /// input, which stops loops from vectorising. SSE's `sqrtps` (x86-64's baseline) is the
    /// IEEE square root of each lane, so results are the same bits.
    @inlinable
    package static func squareRoot(_ values: SIMD4<Float>) -> SIMD4<Float> {
        #if arch(x86_64)
        return _mm_sqrt_ps(values)
        #else
        return SIMD4(values[0].squareRoot(), values[1].squareRoot(), values[2].squareRoot(), values[3].squareRoot())
        #endif
    }
}
