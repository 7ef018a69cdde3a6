import Cluster
import Linalg
import NN
import Support

/// How gradients are combined across ranks.
package enum GradientReduction: String, NamedChoice {
    /// Each tensor's summed gradient lands only on its owner (the default): with the allgather of
    /// the updated parameters, the same bytes as one all-reduce.
    case reduceScatter
    /// Every rank receives every summed gradient.
    case allreduce
}

/// The data path between ranks for one training step: gradients to the owners of their shards,
/// then the owners' updated parameters to everyone, bucket by bucket, each bucket's transfer a
/// non-blocking collective that can run while the rank computes.
///
/// Buckets group consecutive shards in reverse layer order (the order backward produces them) up
/// to `bucketBytes`. Within a bucket the shards are packed by owner, rank 0's first, so that each
/// rank's share is one contiguous segment: one reduce-scatter (or all-reduce) per bucket moves
/// the gradients, and one in-place allgatherv per bucket returns the parameters. Every bucket has
/// its own region of the packing buffer, so all of them can be in flight at once; the buffers
/// are allocated once. A bucket whose packed order is already the store's (whole-row shards,
/// adjacent, rank 0's first: the row bands of one tensor) is *direct*: its collectives run in
/// place on the store's gradients and values, with no packing.
///
/// The schedule, the same on every rank (MPI needs the same collectives in the same order):
/// reductions start in bucket order (`startReductions(readyFrom:)`, called as backward finishes
/// layers, or all at once); owners update bucket by bucket in the reverse order, so the first
/// layers' parameters leave first (`updateOrder`, `finishReduction`, `startGather`); and the
/// gathers are waited for layer by layer as the next forward reaches them (`finishGathers(through:)`).
/// Without overlap, `reduceGradients` and `gatherParameters` run the same collectives and wait
/// for each at once, so both modes compute the same bits.
final class GradientExchange {
    struct Bucket {
        /// Shard indices in packed order (grouped by owner).
        var shards: [Int]
        /// Offset of each of those shards in the packed bucket.
        var offsets: [Int]
        /// Elements per rank in this bucket.
        var partition: Partition
        /// Where the bucket starts in the packing buffer (not used by a direct bucket).
        var start: Int
        /// For a direct bucket, its elements in the store's flat buffers.
        var direct: Range<Int>?
        /// The earliest layer of its tensors: its gradients are final once backward has finished
        /// that layer, and the next forward needs its values from that layer on.
        var firstLayer: Int
    }

    let mode: GradientReduction
    let owners: [Int]
    let rank: Int
    let buckets: [Bucket]
    private let shards: [ParameterShard]
    private let store: ParameterStore<Float>
    private let communicator: any Communicator
    private var packed: [Float]
    /// The bfloat16 transfers (`distributed.exchangeDType`); nil in Float32.
    private let halfPrecision: BFloat16Exchange?
    private var reductions: [CollectiveRequest?]
    private var gathers: [CollectiveRequest?]
    /// Buckets of this step whose reduction has started (a prefix of `buckets`), and those
    /// whose reduction has been waited for.
    private var reductionsStarted = 0
    private var reductionsFinished = 0
    /// Time blocked in the exchange and the intervals its transfers were in flight.
    private(set) var timing: ExchangeTiming

    init(
        shards: [ParameterShard], owners: [Int], tensorLayers: [Int], store: ParameterStore<Float>, communicator: any Communicator,
        bucketBytes: Int, mode: GradientReduction, exchangeDType: ExchangeDType = .float32
    ) throws(TrainError) {
        self.mode = mode
        self.owners = owners
        self.rank = communicator.rank
        self.shards = shards
        self.store = store
        self.communicator = communicator
        let ranks = communicator.size
        let groups = Self.bucketGroups(shards: shards, tensorLayers: tensorLayers, bucketBytes: bucketBytes)
        let firstLayers = Self.firstLayers(of: groups, shards: shards, tensorLayers: tensorLayers)
        var buckets: [Bucket] = []
        var start = 0
        for (group, firstLayer) in zip(groups, firstLayers) {
            var members: [Int] = []
            var offsets: [Int] = []
            var counts = [Int](repeating: 0, count: ranks)
            var offset = 0
            for owner in 0..<ranks {
                for shard in group where owners[shard] == owner {
                    members.append(shard)
                    offsets.append(offset)
                    offset += shards[shard].count
                    counts[owner] += shards[shard].count
                }
            }
            let partition: Partition
            do {
                partition = try Partition(counts: counts)
            } catch {
                throw TrainError("gradient buckets: \(error)")
            }
            let direct = Self.storeElements(of: members, offsets: offsets, total: partition.total, shards: shards)
            buckets.append(Bucket(
                shards: members, offsets: offsets, partition: partition, start: start, direct: direct, firstLayer: firstLayer))
            if direct == nil { start += partition.total }
        }
        self.buckets = buckets
        if exchangeDType == .bfloat16 {
            guard mode == .reduceScatter else {
                throw TrainError("distributed.exchangeDType bfloat16 needs distributed.reduction reduceScatter (the owners form the sums)")
            }
            halfPrecision = try BFloat16Exchange(partitions: buckets.map(\.partition), rank: rank)
        } else {
            halfPrecision = nil
        }
        packed = [Float](repeating: 0, count: start)
        reductions = [CollectiveRequest?](repeating: nil, count: buckets.count)
        gathers = [CollectiveRequest?](repeating: nil, count: buckets.count)
        timing = ExchangeTiming(capacity: 2 * buckets.count)
        try checkScheduleAgrees()
    }

    /// The elements of a bucket in the store's flat buffers when its packed layout (`members` at
    /// `offsets`) is the store's own: every shard whole rows, each right after the one before.
    static func storeElements(of members: [Int], offsets: [Int], total: Int, shards: [ParameterShard]) -> Range<Int>? {
        guard let first = members.first else { return nil }
        let base = shards[first].flatElements.lowerBound
        for (member, offset) in zip(members, offsets) {
            guard shards[member].isContiguous, shards[member].flatElements.lowerBound == base + offset else { return nil }
        }
        return base..<(base + total)
    }

    /// The earliest layer of each bucket's tensors (`Bucket.firstLayer`).
    static func firstLayers(of groups: [[Int]], shards: [ParameterShard], tensorLayers: [Int]) -> [Int] {
        groups.map { group in group.map { tensorLayers[shards[$0].tensor] }.min() ?? 0 }
    }

    /// How many of the buckets of `groups` can travel while other layers compute: those without
    /// parameters of the earliest layer any bucket has (their reductions start before backward
    /// ends, their gathers are needed after forward begins).
    static func hidableBuckets(_ groups: [[Int]], shards: [ParameterShard], tensorLayers: [Int]) -> Int {
        let firstLayers = firstLayers(of: groups, shards: shards, tensorLayers: tensorLayers)
        guard let earliest = firstLayers.min() else { return 0 }
        return firstLayers.filter { $0 > earliest }.count
    }

    /// Shard indices grouped into buckets, in reverse order: a bucket closes when the next shard
    /// would take it past `bucketBytes`, around the row bands of a tensor of at least half that
    /// size, and at a layer boundary once it holds a sixteenth of that.
    ///
    /// Bands in a bucket of their own can be direct (in place, no packing copies); smaller
    /// tensors' bands save less in copies than a bucket of their own costs in per-message
    /// latency. A bucket's reduction can start only when backward has finished its earliest
    /// layer, and the next forward needs all of it at that layer, so a large late layer sharing a
    /// bucket with an early one would leave backward late and arrive in forward early; merging
    /// small neighbouring layers keeps the latency per collective from dominating.
    static func bucketGroups(shards: [ParameterShard], tensorLayers: [Int], bucketBytes: Int) -> [[Int]] {
        let capacity = max(1, bucketBytes / MemoryLayout<Float>.size)
        var tensorCounts: [Int: Int] = [:]
        for shard in shards { tensorCounts[shard.tensor, default: 0] += shard.count }
        let ownBucket = { (shard: Int) in shards[shard].stateSlice != nil && 2 * tensorCounts[shards[shard].tensor]! >= capacity }
        var groups: [[Int]] = []
        var current: [Int] = []
        var size = 0
        for shard in shards.indices.reversed() {
            let layerChanges = current.last.map { tensorLayers[shards[$0].tensor] != tensorLayers[shards[shard].tensor] } ?? false
            let bandsChange = current.last.map { shards[$0].tensor != shards[shard].tensor && (ownBucket($0) || ownBucket(shard)) } ?? false
            if !current.isEmpty && (size + shards[shard].count > capacity || bandsChange || (layerChanges && 16 * size >= capacity)) {
                groups.append(current)
                current = []
                size = 0
            }
            current.append(shard)
            size += shards[shard].count
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// The non-blocking starts skip the per-call signature check, so the ranks compare the whole
    /// schedule (bucket partitions and mode) once, here.
    private func checkScheduleAgrees() throws(TrainError) {
        var hash = ReplicaCheck.fingerprint(buckets.lazy.map { UInt64(bitPattern: $0.partition.fingerprint) })
        hash = hash &* 31 &+ (mode == .allreduce ? 1 : 0)
        let differs: Int?
        do {
            differs = try communicator.firstDisagreement([hash])
        } catch {
            throw TrainError("gradient buckets: \(error)")
        }
        if differs != nil { throw TrainError("gradient buckets differ between ranks (the ranks planned different shards or owners)") }
    }

    /// Element counts moved per step, for the communication report: gradients reduced, parameters gathered.
    var elementsPerStep: (gradients: Int, parameters: Int) {
        let total = buckets.reduce(0) { $0 + $1.partition.total }
        return (total, total)
    }

    /// Whether every gradient this rank has handed to the reductions of this step was finite
    /// (their squared norm, bucket by bucket, as each reduction starts: afterwards the buffers
    /// are the collective's). Valid once every reduction of the step has started.
    private(set) var startedGradientsAreFinite = true

    // MARK: - Gradients

    /// Sums the gradients across ranks and waits: afterwards each rank's owned shards (every
    /// shard in `allreduce` mode) hold the sum in the store's gradients.
    func reduceGradients() throws {
        for bucket in buckets.indices { try finishReduction(bucket, phase: \.communicationPhase) }
    }

    /// Waits for every reduction in flight (none without overlap, where `reduceGradients` has
    /// waited already) and starts none: the end of a step that is skipped.
    func finishStartedReductions() throws {
        for bucket in buckets.indices where reductions[bucket] != nil { try finishReduction(bucket, phase: \.communicationPhase) }
    }

    /// Starts, in bucket order, the reduction of every bucket not yet started whose gradients are
    /// final once backward has finished layer `layer`; the starts' time is booked under `phase`.
    func startReductions(readyFrom layer: Int, phase: WritableKeyPath<ExchangeTiming.Blocked, Double>) throws {
        while reductionsStarted < buckets.count && buckets[reductionsStarted].firstLayer >= layer {
            let index = reductionsStarted
            let bucket = buckets[index]
            if index == 0 { startedGradientsAreFinite = true }
            if bucket.direct == nil { pack(bucket, from: store.gradients, tensorsOf: nil) }
            let request = try withCollectiveBuffer(bucket, in: store.gradients) { all in
                startedGradientsAreFinite = startedGradientsAreFinite && BLAS.dot(UnsafeBufferPointer(all), UnsafeBufferPointer(all)).isFinite
                if let halfPrecision { return try halfPrecision.startReduction(index, elements: all, communicator: communicator) }
                switch mode {
                case .allreduce: return try communicator.startAllreduce(all, operation: .sum)
                case .reduceScatter: return try communicator.startReduceScatter(inPlace: all, partition: bucket.partition, operation: .sum)
                }
            }
            reductions[index] = request
            timing.recordStart(request, in: phase)
            reductionsStarted += 1
        }
    }

    /// Waits for bucket `index`'s reduction (starting any not yet started) and copies the sums
    /// into the store's gradients; `phase` is where the wait's time is booked.
    func finishReduction(_ index: Int, phase: WritableKeyPath<ExchangeTiming.Blocked, Double>) throws {
        if index >= reductionsStarted { try startReductions(readyFrom: 0, phase: phase) }
        guard let request = reductions[index] else { return }
        reductions[index] = nil
        timing.recordWait(for: request, try communicator.wait(for: request), in: phase)
        reductionsFinished += 1
        if reductionsFinished == buckets.count { (reductionsStarted, reductionsFinished) = (0, 0) }
        let bucket = buckets[index]
        if let halfPrecision {
            withCollectiveBuffer(bucket, in: store.gradients) { halfPrecision.finishReduction(index, elements: $0) }
        }
        // A direct bucket was reduced where the owners read it; a packed one holds this rank's
        // sums in its own segment of the packing region.
        if bucket.direct == nil { unpack(bucket, into: store.gradients, tensorsOf: mode == .allreduce ? nil : rank) }
        if let halfPrecision {
            // The values before this rank's update, from which it sends its step.
            if bucket.direct == nil { pack(bucket, from: store.values, tensorsOf: rank) }
            withCollectiveBuffer(bucket, in: store.values) { halfPrecision.keepPrevious(index, elements: $0) }
        }
    }

    // MARK: - Parameters

    /// The buckets in the order owners update them and send them back: the reverse of the
    /// reduction order, so the parameters the next forward needs first go first.
    var updateOrder: ReversedCollection<Range<Int>> { buckets.indices.reversed() }

    /// The shards of bucket `index`.
    func shards(inBucket index: Int) -> [Int] { buckets[index].shards }

    /// Sends each owner's updated values to every rank and waits.
    func gatherParameters() throws {
        for index in updateOrder { try startGather(index, phase: \.communicationPhase) }
        try settle()
    }

    /// Starts sending the owner's updated values of bucket `index` to every rank; the start's
    /// time is booked under `phase`.
    func startGather(_ index: Int, phase: WritableKeyPath<ExchangeTiming.Blocked, Double>) throws {
        let bucket = buckets[index]
        if bucket.direct == nil { pack(bucket, from: store.values, tensorsOf: rank) }
        let request = try withCollectiveBuffer(bucket, in: store.values) { all in
            if let halfPrecision { return try halfPrecision.startGather(index, elements: all, communicator: communicator) }
            return try communicator.startAllgatherv(inPlace: all, partition: bucket.partition)
        }
        // The owner's values become previous + the rounded step, as every rank computes them.
        if halfPrecision != nil && bucket.direct == nil { unpack(bucket, into: store.values, tensorsOf: rank) }
        gathers[index] = request
        timing.recordStart(request, in: phase)
    }

    /// Waits for the values of every bucket that holds tensors of layers `0...layer` and copies
    /// them into the store; the wait's time is booked under `phase`.
    func finishGathers(through layer: Int, phase: WritableKeyPath<ExchangeTiming.Blocked, Double>) throws {
        for index in updateOrder where buckets[index].firstLayer <= layer {
            guard let request = gathers[index] else { continue }
            gathers[index] = nil
            timing.recordWait(for: request, try communicator.wait(for: request), in: phase)
            let bucket = buckets[index]
            if let halfPrecision {
                // The other owners' steps are added to the values every rank holds.
                if bucket.direct == nil { pack(bucket, from: store.values, tensorsOf: nil) }
                withCollectiveBuffer(bucket, in: store.values) { halfPrecision.finishGather(index, elements: $0) }
            }
            if bucket.direct == nil { unpack(bucket, into: store.values, tensorsOf: nil) }
        }
    }

    /// Waits for every gather in flight: afterwards every rank holds every new value.
    func settle() throws {
        try finishGathers(through: Int.max, phase: \.communicationPhase)
    }

    /// Whether any gather is still in flight.
    var hasPendingGathers: Bool { gathers.contains { $0 != nil } }

    /// Returns the timing since the last call and starts a new one.
    func takeTiming() -> ExchangeTiming {
        defer { timing.reset() }
        return timing
    }

    // MARK: - Packing

    /// Runs `body` on the elements bucket's collectives run on: its elements of `source` (the
    /// store's gradients or values) for a direct bucket, its region of the packing buffer otherwise.
    private func withCollectiveBuffer<Result>(
        _ bucket: Bucket, in source: UnsafeMutableBufferPointer<Float>, _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        if let direct = bucket.direct { return try body(UnsafeMutableBufferPointer(rebasing: source[direct])) }
        return try packed.withUnsafeMutableBufferPointer { packed in
            try body(UnsafeMutableBufferPointer(rebasing: packed[bucket.start..<(bucket.start + bucket.partition.total)]))
        }
    }

    /// Copies the bucket's shards (only those of `owner`, if given) from `source` into its region of `packed`.
    private func pack(_ bucket: Bucket, from source: UnsafeMutableBufferPointer<Float>, tensorsOf owner: Int?) {
        packed.withUnsafeMutableBufferPointer { packed in
            for (position, shard) in bucket.shards.enumerated() where owner == nil || owners[shard] == owner {
                shards[shard].gather(from: source, into: packed.baseAddress! + bucket.start + bucket.offsets[position])
            }
        }
    }

    /// Copies the bucket's shards (only those of `owner`, if given) from its region of `packed` into `destination`.
    private func unpack(_ bucket: Bucket, into destination: UnsafeMutableBufferPointer<Float>, tensorsOf owner: Int?) {
        packed.withUnsafeBufferPointer { packed in
            for (position, shard) in bucket.shards.enumerated() where owner == nil || owners[shard] == owner {
                shards[shard].scatter(from: packed.baseAddress! + bucket.start + bucket.offsets[position], into: destination)
            }
        }
    }
}
