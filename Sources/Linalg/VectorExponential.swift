/// An exponential written without a libm call or a branch, so the elementwise loops that need
/// `exp` on every element (GELU, softmax) are vectorized by the compiler instead of calling
/// `expf` once per element.
///
/// Cephes' `expf` (S. Moshier, Cephes Math Library): with `n = round(x log2 e)` and
/// `r = x - n ln 2` (ln 2 split in two parts, so `r` is exact to single precision),
///
///     e^x = 2^n · e^r,   e^r ≈ 1 + r + r² (p0 + p1 r + p2 r² + p3 r³ + p4 r⁴ + p5 r⁵),   |r| ≤ ln2/2
///
/// within 2 ulp of the exact value over `[-86.5, 88]`. Inputs are clamped to that range: large
/// positive `x` gives about 1.65e38 (never infinity), large negative `x` about 2.6e-38 (never a
/// subnormal, which would slow the loop down many times); NaN stays NaN.
@usableFromInline package enum VectorExponential {
    @inlinable @inline(__always)
    package static func exp(_ x: Float) -> Float {
        let clamped = min(max(x, -86.5), 88)
        // Adding 1.5 · 2^23 rounds to the nearest integer n and leaves n in the low mantissa bits.
        let roundingShift: Float = 12_582_912
        let shifted = clamped * 1.442_695_04 + roundingShift
        let exponent = shifted - roundingShift
        let power = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        let r = (clamped - exponent * 0.693_359_375) + exponent * 2.121_944_4e-4
        var polynomial: Float = 1.987_569_15e-4
        polynomial = polynomial * r + 1.398_199_950_7e-3
        polynomial = polynomial * r + 8.333_451_907_3e-3
        polynomial = polynomial * r + 4.166_579_589_4e-2
        polynomial = polynomial * r + 1.666_666_545_9e-1
        polynomial = polynomial * r + 5.000_000_120_1e-1
        let mantissa = polynomial * (r * r) + r + 1
        let result = mantissa * Float(bitPattern: UInt32(bitPattern: (power &+ 127) &<< 23))
        return x.isNaN ? x : result
    }
}
