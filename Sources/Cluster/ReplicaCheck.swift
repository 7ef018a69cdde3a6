/// Checking that every rank holds the same bits: each rank fingerprints its copy, and one pair of
/// reductions (max and min) shows where the ranks disagree.
package enum ReplicaCheck {
    /// FNV-1a over `words` (the bit patterns of the values), as a signed 64-bit fingerprint.
    @inlinable
    package static func fingerprint<Words: Sequence>(_ words: Words) -> Int64 where Words.Element == UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for word in words { hash = (hash ^ word) &* 0x0000_0100_0000_01b3 }
        return Int64(bitPattern: hash)
    }
}

extension Communicator {
    /// The first index at which the ranks' `fingerprints` differ, or nil when all ranks agree.
    /// Every rank calls it with the same count and gets the same answer.
    package func firstDisagreement(_ fingerprints: [Int64]) throws -> Int? {
        var maxima = fingerprints
        var minima = fingerprints
        try allreduce(&maxima, operation: .max)
        try allreduce(&minima, operation: .min)
        return maxima.indices.first { maxima[$0] != minima[$0] }
    }
}
