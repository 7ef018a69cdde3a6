import Linalg

/// The training order: sample `position` of epoch `e` is a pure function of `(seed, e, position)`,
/// a seeded Fisher-Yates permutation of the dataset per epoch, so every rank computes the same
/// order without communicating, a resumed run continues exactly, and a run on a different number
/// of ranks sees the same global batches.
///
/// Global batches of `G` samples follow the permutation with `dropLast` semantics: an epoch has
/// `count / G` steps and the global batch of step `s` (counted from 0 across epochs) is positions
/// `(s mod stepsPerEpoch) * G ..< + G` of epoch `s / stepsPerEpoch`. Rank `r` of `R` takes the
/// contiguous slice `localSlice(globalBatch: G, rank: r, ranks: R)` of it.
///
/// The permutation of the current epoch is cached: it is recomputed (one allocation) only when
/// the epoch changes, and the per-step calls do not allocate.
package struct GlobalSampler: Sendable {
    package let datasetCount: Int
    package let seed: UInt64
    private var cachedEpoch = -1
    private var order: [Int] = []

    package init(datasetCount: Int, seed: UInt64) {
        precondition(datasetCount > 0, "GlobalSampler: empty dataset")
        self.datasetCount = datasetCount
        self.seed = seed
    }

    /// The order of epoch `epoch`: a permutation of `0..<datasetCount`.
    package mutating func permutation(epoch: Int) -> [Int] {
        prepare(epoch: epoch)
        return order
    }

    /// The dataset index at `position` of epoch `epoch`.
    package mutating func globalIndex(epoch: Int, position: Int) -> Int {
        precondition(position >= 0 && position < datasetCount,
                     "GlobalSampler: position \(position) outside 0..<\(datasetCount)")
        prepare(epoch: epoch)
        return order[position]
    }

    /// Steps per epoch for global batches of `globalBatch` samples (the incomplete last batch dropped).
    package func stepsPerEpoch(globalBatch: Int) -> Int {
        precondition(globalBatch > 0 && globalBatch <= datasetCount,
                     "GlobalSampler: global batch \(globalBatch) outside 1...\(datasetCount)")
        return datasetCount / globalBatch
    }

    /// The part of a batch of `globalBatch` samples that `rank` of `ranks` takes: an even
    /// contiguous split in rank order, the first `globalBatch % ranks` ranks taking one more
    /// (ranks beyond `globalBatch` take none).
    package static func localSlice(globalBatch: Int, rank: Int, ranks: Int) -> Range<Int> {
        precondition(ranks > 0 && rank >= 0 && rank < ranks, "GlobalSampler: rank \(rank) of \(ranks)")
        precondition(globalBatch >= 0, "GlobalSampler: global batch \(globalBatch)")
        let (base, remainder) = globalBatch.quotientAndRemainder(dividingBy: ranks)
        let start = rank * base + min(rank, remainder)
        return start..<(start + base + (rank < remainder ? 1 : 0))
    }

    /// Replaces the contents of `indices` (keeping its storage) with the dataset indices of
    /// `rank`'s slice of the global batch of `step` (counted from 0 across epochs).
    package mutating func fillIndices(step: Int, globalBatch: Int, rank: Int, ranks: Int, into indices: inout [Int]) {
        precondition(step >= 0, "GlobalSampler: step \(step)")
        let steps = stepsPerEpoch(globalBatch: globalBatch)
        fillIndices(cursor: SamplerCursor(epoch: step / steps, step: step % steps),
                    globalBatch: globalBatch, rank: rank, ranks: ranks, into: &indices)
    }

    /// `fillIndices(step:...)` for the step at `cursor`.
    package mutating func fillIndices(cursor: SamplerCursor, globalBatch: Int, rank: Int, ranks: Int, into indices: inout [Int]) {
        let steps = stepsPerEpoch(globalBatch: globalBatch)
        precondition(cursor.epoch >= 0 && cursor.step >= 0 && cursor.step < steps,
                     "GlobalSampler: cursor \(cursor) outside an epoch of \(steps) steps")
        prepare(epoch: cursor.epoch)
        let slice = Self.localSlice(globalBatch: globalBatch, rank: rank, ranks: ranks)
        let start = cursor.step * globalBatch
        indices.removeAll(keepingCapacity: true)
        indices.append(contentsOf: order[(start + slice.lowerBound)..<(start + slice.upperBound)])
    }

    /// Builds the order of `epoch` unless it is the cached one.
    private mutating func prepare(epoch: Int) {
        precondition(epoch >= 0, "GlobalSampler: epoch \(epoch)")
        guard epoch != cachedEpoch else { return }
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: 0..<datasetCount)
        var generator = SeededGenerator(seed: Self.epochSeed(seed: seed, epoch: epoch))
        var last = datasetCount - 1
        while last > 0 {
            order.swapAt(last, Int(Self.uniform(below: UInt64(last + 1), using: &generator)))
            last -= 1
        }
        cachedEpoch = epoch
    }

    /// The generator seed of one epoch: two rounds of the SplitMix64 finaliser, a bijection of
    /// `epoch` for a fixed `seed`, so different epochs never share a generator.
    static func epochSeed(seed: UInt64, epoch: Int) -> UInt64 {
        func mix(_ value: UInt64) -> UInt64 {
            var z = value
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return mix(mix(seed &+ 0x9E37_79B9_7F4A_7C15) ^ UInt64(epoch))
    }

    /// A uniform draw from `0..<bound` (Lemire's multiply-and-reject). Written out rather than
    /// `Int.random(in:using:)`, whose algorithm the standard library may change between versions.
    static func uniform(below bound: UInt64, using generator: inout SeededGenerator) -> UInt64 {
        var (high, low) = generator.next().multipliedFullWidth(by: bound)
        if low < bound {
            let threshold = (0 &- bound) % bound
            while low < threshold {
                (high, low) = generator.next().multipliedFullWidth(by: bound)
            }
        }
        return high
    }
}
