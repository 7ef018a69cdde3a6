import Cluster
import NN
import Support

/// How gradients are combined across ranks.
public enum GradientReduction: String, NamedChoice {
    /// Each tensor's summed gradient lands only on its owner (the default): with the allgather of
    /// the updated parameters, the same bytes as one all-reduce.
    case reduceScatter
    /// Every rank receives every summed gradient.
    case allreduce
}

/// The data path between ranks for one training step: gradients to the owners of their shards,
/// then the owners' updated parameters to everyone, bucket by bucket.
///
/// Buckets group consecutive shards in reverse layer order (the order backward produces them) up
/// to `bucketBytes`. Within a bucket the shards are packed by owner, rank 0's first, so that each
/// rank's share is one contiguous segment: one `reduceScatter` (or `allreduce`) per bucket moves
/// the gradients, and one in-place `allgatherv` per bucket returns the parameters. The packing
/// buffers are allocated once.
final class GradientExchange {
    struct Bucket {
        /// Shard indices in packed order (grouped by owner).
        var shards: [Int]
        /// Offset of each of those shards in the packed bucket.
        var offsets: [Int]
        /// Elements per rank in this bucket.
        var partition: Partition
    }

    let mode: GradientReduction
    let owners: [Int]
    let rank: Int
    let buckets: [Bucket]
    private let shards: [ParameterShard]
    private var packed: [Float]
    private var received: [Float]

    init(shards: [ParameterShard], owners: [Int], rank: Int, ranks: Int, bucketBytes: Int, mode: GradientReduction) throws(TrainError) {
        self.mode = mode
        self.owners = owners
        self.rank = rank
        self.shards = shards
        let capacity = max(1, bucketBytes / MemoryLayout<Float>.size)
        var groups: [[Int]] = []
        var current: [Int] = []
        var size = 0
        for shard in shards.indices.reversed() {
            if !current.isEmpty && size + shards[shard].count > capacity {
                groups.append(current)
                current = []
                size = 0
            }
            current.append(shard)
            size += shards[shard].count
        }
        if !current.isEmpty { groups.append(current) }
        var buckets: [Bucket] = []
        for group in groups {
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
            do {
                buckets.append(Bucket(shards: members, offsets: offsets, partition: try Partition(counts: counts)))
            } catch {
                throw TrainError("gradient buckets: \(error)")
            }
        }
        self.buckets = buckets
        let largest = buckets.map(\.partition.total).max() ?? 0
        packed = [Float](repeating: 0, count: largest)
        received = [Float](repeating: 0, count: buckets.map { $0.partition.counts.max() ?? 0 }.max() ?? 0)
    }

    /// Element counts moved per step, for the communication report: gradients reduced, parameters gathered.
    var elementsPerStep: (gradients: Int, parameters: Int) {
        let total = buckets.reduce(0) { $0 + $1.partition.total }
        return (total, total)
    }

    /// Sums the gradients across ranks: afterwards each rank's owned shards (every shard in
    /// `allreduce` mode) hold the sum in `store.gradients`.
    func reduceGradients(_ store: ParameterStore<Float>, communicator: any Communicator) throws {
        for bucket in buckets {
            pack(bucket, from: store.gradients, tensorsOf: nil)
            let total = bucket.partition.total
            try packed.withUnsafeMutableBufferPointer { packed in
                let all = UnsafeMutableBufferPointer(rebasing: packed[..<total])
                switch mode {
                case .allreduce:
                    try communicator.allreduce(all, operation: .sum)
                case .reduceScatter:
                    let mine = bucket.partition.counts[rank]
                    try received.withUnsafeMutableBufferPointer { received in
                        try communicator.reduceScatter(
                            UnsafeBufferPointer(all), into: UnsafeMutableBufferPointer(rebasing: received[..<mine]),
                            partition: bucket.partition, operation: .sum)
                        // Place the received segment where the owner's tensors sit in the packed bucket.
                        let start = bucket.partition.offsets[rank]
                        if mine > 0 { (packed.baseAddress! + start).update(from: received.baseAddress!, count: mine) }
                    }
                }
            }
            unpack(bucket, into: store.gradients, tensorsOf: mode == .allreduce ? nil : rank)
        }
    }

    /// Sends each owner's updated parameters to every rank.
    func gatherParameters(_ store: ParameterStore<Float>, communicator: any Communicator) throws {
        for bucket in buckets {
            pack(bucket, from: store.values, tensorsOf: rank)
            let total = bucket.partition.total
            try packed.withUnsafeMutableBufferPointer { packed in
                try communicator.allgatherv(inPlace: UnsafeMutableBufferPointer(rebasing: packed[..<total]), partition: bucket.partition)
            }
            unpack(bucket, into: store.values, tensorsOf: nil)
        }
    }

    /// Copies the bucket's shards (only those of `owner`, if given) from `source` into `packed`.
    private func pack(_ bucket: Bucket, from source: UnsafeMutableBufferPointer<Float>, tensorsOf owner: Int?) {
        packed.withUnsafeMutableBufferPointer { packed in
            for (position, shard) in bucket.shards.enumerated() where owner == nil || owners[shard] == owner {
                shards[shard].gather(from: source, into: packed.baseAddress! + bucket.offsets[position])
            }
        }
    }

    /// Copies the bucket's shards (only those of `owner`, if given) from `packed` into `destination`.
    private func unpack(_ bucket: Bucket, into destination: UnsafeMutableBufferPointer<Float>, tensorsOf owner: Int?) {
        packed.withUnsafeBufferPointer { packed in
            for (position, shard) in bucket.shards.enumerated() where owner == nil || owners[shard] == owner {
                shards[shard].scatter(from: packed.baseAddress! + bucket.offsets[position], into: destination)
            }
        }
    }
}
