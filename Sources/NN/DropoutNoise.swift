/// Counter-based uniform noise for dropout: the number for an element is a hash of
/// (seed, step, sample index, layer index, element index), not a draw from a stateful generator,
/// so masks do not depend on batch composition, batch order or how a batch is split across ranks.
///
/// With `mix` the SplitMix64 finaliser (bijective, full avalanche) and `γ = 0x9E3779B97F4A7C15`,
/// an element's number is position `element + 1` of the SplitMix64 stream started at the key:
///
///     key = mix(mix(mix(mix(seed + γ) ^ step) ^ sample) ^ layer)
///     u   = (mix(key + (element + 1) γ) >> 11) · 2^-53        in [0, 1)
package enum DropoutNoise {
    /// The key of one sample's noise in one layer at one step.
    @inlinable
    package static func streamKey(seed: UInt64, step: Int, sample: Int, layer: Int) -> UInt64 {
        var key = finalize(seed &+ 0x9E37_79B9_7F4A_7C15)
        key = finalize(key ^ UInt64(bitPattern: Int64(step)))
        key = finalize(key ^ UInt64(bitPattern: Int64(sample)))
        return finalize(key ^ UInt64(bitPattern: Int64(layer)))
    }

    /// The uniform number in [0, 1) of element `element` of the stream `key`.
    @inlinable
    package static func uniform(key: UInt64, element: Int) -> Double {
        let counter = key &+ UInt64(bitPattern: Int64(element) &+ 1) &* 0x9E37_79B9_7F4A_7C15
        return Double(finalize(counter) >> 11) * 0x1.0p-53
    }

    /// The uniform number in [0, 1) of one element of one sample in one layer at one step.
    @inlinable
    package static func uniform(seed: UInt64, step: Int, sample: Int, layer: Int, element: Int) -> Double {
        uniform(key: streamKey(seed: seed, step: step, sample: sample, layer: layer), element: element)
    }

    /// The SplitMix64 output function: `z ^= z >> 30; z *= C1; z ^= z >> 27; z *= C2; z ^= z >> 31`.
    @inlinable
    static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
