/// How a flat buffer is split into one contiguous segment per rank, for reduce-scatter,
/// allgatherv and gatherv with uneven counts.
///
/// Built once (for example per gradient bucket) and reused every step: it precomputes the 32-bit
/// counts and offsets MPI takes, so a collective call does not allocate.
package struct Partition: Sendable, Equatable {
    /// Elements per rank.
    package let counts: [Int]
    /// Start of each rank's segment (prefix sums of `counts`).
    package let offsets: [Int]
    /// Total elements, the sum of `counts`.
    package let total: Int
    /// A fingerprint of `counts`, compared across ranks to catch mismatched partitions.
    package let fingerprint: Int64
    /// `counts` and `offsets` as MPI reads them.
    private let mpiArrays: MPICountArrays

    /// A partition with the given per-rank counts; each must be non-negative and the total
    /// must fit MPI's 32-bit counts.
    package init(counts: [Int]) throws(CommunicatorError) {
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
        self.mpiArrays = MPICountArrays(counts: counts, offsets: offsets)
        // FNV-1a over the counts: equal partitions give equal fingerprints on every rank.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for count in counts {
            hash = (hash ^ UInt64(count)) &* 0x0000_0100_0000_01b3
        }
        self.fingerprint = Int64(bitPattern: hash)
    }

    /// `total` elements split as evenly as possible over `ranks`, the first ranks taking one more.
    package static func even(total: Int, ranks: Int) throws(CommunicatorError) -> Partition {
        guard ranks > 0 else { throw .invalidArgument("partition over \(ranks) ranks") }
        guard total >= 0 else { throw .invalidArgument("partition of \(total) elements") }
        let (base, remainder) = total.quotientAndRemainder(dividingBy: ranks)
        return try Partition(counts: (0..<ranks).map { base + ($0 < remainder ? 1 : 0) })
    }

    package static func == (lhs: Partition, rhs: Partition) -> Bool { lhs.counts == rhs.counts }

    /// Calls `body` with the 32-bit send counts and offsets of an alltoallv over this partition and
    /// the receive counts and offsets of `received` (each rank's count for this rank), as MPI takes them.
    func withAlltoallvCounts(
        received: Partition,
        _ body: (UnsafePointer<Int32>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> Int32
    ) -> Int32 {
        withMPICounts { sendCounts in
            withMPIOffsets { sendOffsets in
                received.withMPICounts { receiveCounts in
                    received.withMPIOffsets { body(sendCounts.baseAddress, sendOffsets.baseAddress, receiveCounts.baseAddress, $0.baseAddress) }
                }
            }
        }
    }

    /// Calls `body` with the 32-bit counts, which stay at the same address as long as the
    /// partition lives (a non-blocking collective reads them until it completes).
    func withMPICounts<Result>(_ body: (UnsafeBufferPointer<Int32>) throws -> Result) rethrows -> Result {
        try body(UnsafeBufferPointer(start: mpiArrays.counts, count: counts.count))
    }

    /// Like `withMPICounts(_:)`, for the 32-bit offsets.
    func withMPIOffsets<Result>(_ body: (UnsafeBufferPointer<Int32>) throws -> Result) rethrows -> Result {
        try body(UnsafeBufferPointer(start: mpiArrays.offsets, count: offsets.count))
    }

    /// The index range of `rank`'s segment.
    package func range(of rank: Int) -> Range<Int> {
        offsets[rank]..<(offsets[rank] + counts[rank])
    }
}

/// A partition's counts and offsets as 32-bit integers in memory allocated once and freed with
/// the partition: MPI's non-blocking collectives read these arrays until they complete, which a
/// Swift array's temporary pointer does not promise.
///
/// `@unchecked Sendable`: it wraps two C buffers that are written only in `init` and read-only
/// afterwards.
private final class MPICountArrays: @unchecked Sendable {
    let counts: UnsafeMutablePointer<Int32>
    let offsets: UnsafeMutablePointer<Int32>

    init(counts: [Int], offsets: [Int]) {
        self.counts = .allocate(capacity: max(1, counts.count))
        self.offsets = .allocate(capacity: max(1, offsets.count))
        for (index, count) in counts.enumerated() { self.counts[index] = Int32(count) }
        for (index, offset) in offsets.enumerated() { self.offsets[index] = Int32(offset) }
    }

    deinit {
        counts.deallocate()
        offsets.deallocate()
    }
}
