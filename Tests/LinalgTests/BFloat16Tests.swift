import Linalg
import Testing

/// bfloat16 rounding checked exhaustively where it matters: every bfloat16 value, and every tie
/// between neighbours (with the Float32 values one unit either side), against IEEE round to
/// nearest, ties to even.
@Suite("bfloat16")
struct BFloat16Tests {
    /// Every finite bfloat16 pattern, both signs.
    static let finite = (0...UInt16.max).filter { $0 & 0x7FFF < 0x7F80 }

    @Test("every finite bfloat16 converts to its Float32 and back to itself")
    func roundTrips() {
        for bits in Self.finite {
            #expect(BFloat16.bits(rounding: BFloat16.float(bits)) == bits, "\(String(bits, radix: 16))")
        }
        #expect(BFloat16.bits(rounding: .infinity) == 0x7F80 && BFloat16.bits(rounding: -.infinity) == 0xFF80)
        #expect(BFloat16.bits(rounding: 0) == 0 && BFloat16.bits(rounding: -0.0) == 0x8000)
    }

    @Test("between two neighbours: below the midpoint down, above it up, the midpoint itself to the even one; past the largest finite, infinity")
    func tiesToEven() {
        for low in Self.finite where low & 0x7FFF < 0x7F80 {
            // `low + 1` is the next bfloat16 away from zero (0x7F7F + 1 is infinity).
            let high = low + 1
            let midpoint = UInt32(low) << 16 | 0x8000
            let even = low & 1 == 0 ? low : high
            #expect(BFloat16.bits(rounding: Float(bitPattern: midpoint)) == even, "tie at \(String(midpoint, radix: 16))")
            #expect(BFloat16.bits(rounding: Float(bitPattern: midpoint - 1)) == low)
            #expect(BFloat16.bits(rounding: Float(bitPattern: midpoint + 1)) == high)
        }
        #expect(BFloat16.bits(rounding: .greatestFiniteMagnitude) == 0x7F80)
        #expect(BFloat16.rounded(3.3895314e38) == 3.3895314e38) // the largest finite bfloat16
    }

    @Test("NaN stays NaN, also when its payload is only in the dropped bits")
    func notANumber() {
        var generator = SystemRandomNumberGenerator()
        for low in [UInt32(1), 0x7FFF, 0x8000, 0xFFFF] + (0..<1000).map({ _ in UInt32.random(in: 1...0x7F_FFFF, using: &generator) }) {
            for sign in [UInt32(0), 0x8000_0000] {
                let value = Float(bitPattern: sign | 0x7F80_0000 | low)
                #expect(value.isNaN && BFloat16.rounded(value).isNaN, "\(String(value.bitPattern, radix: 16))")
            }
        }
    }

    @Test("the bulk store, load and round equal the scalar conversions, on any length")
    func bulk() {
        var generator = SeededGenerator(seed: 9)
        for count in [0, 1, 7, 8, 9, 31, 1000, 4099] {
            let values = (0..<count).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator)) }
            var stored = [UInt16](repeating: 0, count: count)
            values.withUnsafeBufferPointer { source in stored.withUnsafeMutableBufferPointer { BFloat16.store(source, into: $0) } }
            #expect(stored == values.map(BFloat16.bits(rounding:)))
            var loaded = [Float](repeating: 0, count: count)
            stored.withUnsafeBufferPointer { source in loaded.withUnsafeMutableBufferPointer { BFloat16.load(source, into: $0) } }
            var rounded = values
            rounded.withUnsafeMutableBufferPointer { BFloat16.round($0) }
            // Bit patterns: NaN != NaN as Floats.
            #expect(loaded.map(\.bitPattern) == stored.map { UInt32($0) << 16 })
            #expect(rounded.map(\.bitPattern) == loaded.map(\.bitPattern))
        }
    }

    @Test("the rounding error is at most half a unit in the last place: 2^-8 relative for normal values (8 significant bits)")
    func relativeError() {
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<100_000 {
            let value = Float.random(in: -1e30...1e30, using: &generator) * Float.random(in: 1e-30...1, using: &generator)
            guard value.isNormal, abs(value) >= Float.leastNormalMagnitude * 256 else { continue }
            #expect(abs(BFloat16.rounded(value) - value) <= abs(value) * 0x1p-8)
        }
    }
}
