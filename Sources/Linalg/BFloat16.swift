/// bfloat16 storage for values computed in Float32: the upper half of an IEEE binary32 (sign, the
/// same 8-bit exponent, 7 stored mantissa bits), so the range is Float32's and the precision 2^-8
/// relative. State kept this way takes half the memory and half the bytes on disk and on the wire;
/// it is widened to Float32 for every computation.
///
/// Rounding is to nearest with ties to even, as IEEE 754 `convertFormat` does: add `0x7FFF` plus
/// the lowest kept bit, then drop the low 16 bits. A carry out of the mantissa moves to the next
/// binade, and from the largest finite value to infinity, exactly as rounding should. NaN stays
/// NaN (made quiet, so that a payload only in the dropped bits does not turn it into infinity);
/// infinities, signed zeros and subnormals need no special case.
public enum BFloat16 {
    /// The bfloat16 nearest to `value`, as its 16 bits.
    @inlinable @inline(__always)
    public static func bits(rounding value: Float) -> UInt16 {
        let bits = value.bitPattern
        let isNaN = bits & 0x7FFF_FFFF > 0x7F80_0000
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        return UInt16(truncatingIfNeeded: isNaN ? (bits >> 16) | 0x0040 : rounded)
    }

    /// The Float32 value of bfloat16 `bits` (exact: every bfloat16 is a Float32).
    @inlinable @inline(__always)
    public static func float(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// `value` rounded to the nearest bfloat16, as a Float32.
    @inlinable @inline(__always)
    public static func rounded(_ value: Float) -> Float {
        float(bits(rounding: value))
    }

    /// Stores `source` as bfloat16 into `destination` (the same count), rounding each value.
    public static func store(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<UInt16>) {
        precondition(source.count == destination.count, "BFloat16.store: \(source.count) values into \(destination.count)")
        guard let input = source.baseAddress, let output = destination.baseAddress else { return }
        for index in 0..<source.count { output[index] = bits(rounding: input[index]) }
    }

    /// Widens the bfloat16 values of `source` into `destination` (the same count).
    public static func load(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == destination.count, "BFloat16.load: \(source.count) values into \(destination.count)")
        guard let input = source.baseAddress, let output = destination.baseAddress else { return }
        for index in 0..<source.count { output[index] = float(input[index]) }
    }

    /// Rounds every value of `values` to the nearest bfloat16, in place: what storing and loading
    /// them again gives.
    public static func round(_ values: UnsafeMutableBufferPointer<Float>) {
        guard let base = values.baseAddress else { return }
        for index in 0..<values.count { base[index] = rounded(base[index]) }
    }
}

extension BFloat16 {
    /// Stores `values` as bfloat16 into `destination` and rounds `values` in place to what was
    /// stored, returning `sum (x - round(x))²` over them: the squared Frobenius norm of the
    /// rounding, which bounds what storing did to a matrix (`SpectralFactor`'s defect bound).
    public static func storeRounding(
        _ values: UnsafeMutableBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<UInt16>
    ) -> Double {
        precondition(values.count == destination.count, "BFloat16.storeRounding: \(values.count) values into \(destination.count)")
        guard let base = values.baseAddress, let output = destination.baseAddress else { return 0 }
        var squares: Double = 0
        for index in 0..<values.count {
            let stored = bits(rounding: base[index])
            let value = float(stored)
            let residual = Double(base[index]) - Double(value)
            squares += residual * residual
            output[index] = stored
            base[index] = value
        }
        return squares
    }
}
