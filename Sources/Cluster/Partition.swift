/// How a flat buffer is split into one contiguous segment per rank, for reduce-scatter,
/// allgatherv and gatherv with uneven counts.
///
/// Built once (for example per gradient bucket) and reused every step: it precomputes the 32-bit
/// counts and offsets MPI takes, so a collective call does not allocate.
public struct Partition: Sendable, Equatable {
    /// Elements per rank.
    public let counts: [Int]
    /// Start of each rank's segment (prefix sums of `counts`).
    public let offsets: [Int]
    /// Total elements, the sum of `counts`.
    public let total: Int
    /// A fingerprint of `counts`, compared across ranks to catch mismatched partitions.
    public let fingerprint: Int64
    let counts32: [Int32]
    let offsets32: [Int32]

    /// A partition with the given per-rank counts; each must be non-negative and the total
    /// must fit MPI's 32-bit counts.
    public init(counts: [Int]) throws(CommunicatorError) {
        guard !counts.isEmpty else { throw .invalidArgument("partition has no ranks") }
        var offsets: [Int] = []
        offsets.reserveCapacity(counts.count)
        var total = 0
        for (rank, count) in counts.enumerated() {
            guard count >= 0 else { throw .invalidArgument("partition count \(count) for rank \(rank) is negative") }
            offsets.append(total)
            total += count
        }
        guard total <= Int(Int32.max) else {
            throw .invalidArgument("partition total \(total) exceeds MPI's 32-bit count limit")
        }
        self.counts = counts
        self.offsets = offsets
        self.total = total
        self.counts32 = counts.map { Int32($0) }
        self.offsets32 = offsets.map { Int32($0) }
        // FNV-1a over the counts: equal partitions give equal fingerprints on every rank.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for count in counts {
            hash = (hash ^ UInt64(count)) &* 0x0000_0100_0000_01b3
        }
        self.fingerprint = Int64(bitPattern: hash)
    }

    /// `total` elements split as evenly as possible over `ranks`, the first ranks taking one more.
    public static func even(total: Int, ranks: Int) throws(CommunicatorError) -> Partition {
        guard ranks > 0 else { throw .invalidArgument("partition over \(ranks) ranks") }
        guard total >= 0 else { throw .invalidArgument("partition of \(total) elements") }
        let (base, remainder) = total.quotientAndRemainder(dividingBy: ranks)
        return try Partition(counts: (0..<ranks).map { base + ($0 < remainder ? 1 : 0) })
    }

    /// The index range of `rank`'s segment.
    public func range(of rank: Int) -> Range<Int> {
        offsets[rank]..<(offsets[rank] + counts[rank])
    }
}
