import Cluster
import Linalg
import Support

/// The precision of the bytes `GradientExchange` sends (`distributed.exchangeDType`).
package enum ExchangeDType: String, NamedChoice {
    case float32
    /// Half the bytes of both transfers (`BFloat16Exchange`).
    case bfloat16

    /// Bytes per element on the wire.
    package var bytesPerElement: Int {
        switch self {
        case .float32: MemoryLayout<Float>.size
        case .bfloat16: MemoryLayout<UInt16>.size
        }
    }
}

/// `GradientExchange`'s two transfers in bfloat16, half the bytes of each, with every sum and
/// every parameter kept in Float32.
///
/// **Gradients.** Each rank rounds its bucket to bfloat16 once and sends every owner its segment
/// (an alltoallv); the owner widens the N contributions and sums them in Float32 in rank order.
/// One rounding per contribution and none in the sum (a ring in bfloat16 would round the partial
/// sum at every hop), and the sum is deterministic.
///
/// **Parameters.** The owner sends the step it took, `s = round(new - old)`, rather than the new
/// values, and every rank, the owner included, adds the same `s` to its Float32 copy, so the
/// replicas stay bit-identical. Sending the values themselves in bfloat16 would round every weight
/// to 8 significant bits, and any update below 2^-9 of a weight would be lost; rounding the step
/// perturbs it by at most 2^-9 of itself.
///
/// Each bucket has its own regions (its bfloat16 copy, what its owner segment receives, its owner
/// segment's previous values), so transfers of several buckets can be in flight at once.
final class BFloat16Exchange {
    private let rank: Int
    private let ranks: Int
    private let partitions: [Partition]
    /// The same partitions in bytes (bfloat16 travels as pairs of bytes).
    private let bytePartitions: [Partition]
    /// Per bucket: its start in `wire`, in `received` and in `previous`.
    private let wireStarts: [Int]
    private let receivedStarts: [Int]
    private let previousStarts: [Int]
    private var wire: [UInt16]
    private var received: [UInt16]
    private var previous: [Float]

    init(partitions: [Partition], rank: Int) throws(TrainError) {
        self.rank = rank
        self.ranks = partitions.first?.counts.count ?? 1
        self.partitions = partitions
        var (wireTotal, receivedTotal, previousTotal) = (0, 0, 0)
        var (wireStarts, receivedStarts, previousStarts) = ([Int](), [Int](), [Int]())
        var bytePartitions: [Partition] = []
        for partition in partitions {
            wireStarts.append(wireTotal)
            receivedStarts.append(receivedTotal)
            previousStarts.append(previousTotal)
            wireTotal += partition.total
            receivedTotal += ranks * partition.counts[rank]
            previousTotal += partition.counts[rank]
            do {
                bytePartitions.append(try Partition(counts: partition.counts.map { ExchangeDType.bfloat16.bytesPerElement * $0 }))
            } catch {
                throw TrainError("bfloat16 exchange: \(error)")
            }
        }
        (self.wireStarts, self.receivedStarts, self.previousStarts) = (wireStarts, receivedStarts, previousStarts)
        self.bytePartitions = bytePartitions
        wire = [UInt16](repeating: 0, count: wireTotal)
        received = [UInt16](repeating: 0, count: receivedTotal)
        previous = [Float](repeating: 0, count: previousTotal)
    }

    // MARK: - Gradients

    /// Rounds bucket `index`'s gradients (`elements`, in packed order) to bfloat16 and starts
    /// sending each owner its segment.
    func startReduction(_ index: Int, elements: UnsafeMutableBufferPointer<Float>, communicator: any Communicator) throws -> CollectiveRequest {
        let (wireRegion, receivedRegion) = (wireRange(index), receivedRange(index))
        return try wire.withUnsafeMutableBufferPointer { wire in
            let send = UnsafeMutableBufferPointer(rebasing: wire[wireRegion])
            BFloat16.store(UnsafeBufferPointer(elements), into: send)
            return try received.withUnsafeMutableBufferPointer { received in
                try communicator.startAlltoallv(
                    UnsafeBufferPointer(Self.octets(send)), into: Self.octets(UnsafeMutableBufferPointer(rebasing: received[receivedRegion])),
                    partition: bytePartitions[index])
            }
        }
    }

    /// Once bucket `index`'s reduction is complete: this rank's segment of `elements` becomes the
    /// Float32 sum, in rank order, of what every rank sent for it.
    func finishReduction(_ index: Int, elements: UnsafeMutableBufferPointer<Float>) {
        let mine = partitions[index].range(of: rank)
        let start = receivedStarts[index]
        received.withUnsafeBufferPointer { received in
            for offset in 0..<mine.count {
                var sum: Float = 0
                for source in 0..<ranks { sum += BFloat16.float(received[start + source * mine.count + offset]) }
                elements[mine.lowerBound + offset] = sum
            }
        }
    }

    // MARK: - Parameters

    /// Keeps this rank's segment of bucket `index`'s values (`elements`, packed order) as they
    /// are before the owner's update.
    func keepPrevious(_ index: Int, elements: UnsafeMutableBufferPointer<Float>) {
        let mine = partitions[index].range(of: rank)
        let start = previousStarts[index]
        previous.withUnsafeMutableBufferPointer { previous in
            for offset in 0..<mine.count { previous[start + offset] = elements[mine.lowerBound + offset] }
        }
    }

    /// With this rank's segment of `elements` updated: rounds the step to bfloat16, sets the
    /// segment to previous + the rounded step (what every rank will compute), and starts sending
    /// the step to every rank.
    func startGather(_ index: Int, elements: UnsafeMutableBufferPointer<Float>, communicator: any Communicator) throws -> CollectiveRequest {
        let mine = partitions[index].range(of: rank)
        let (wireStart, previousStart) = (wireStarts[index], previousStarts[index])
        return try wire.withUnsafeMutableBufferPointer { wire in
            previous.withUnsafeBufferPointer { previous in
                for offset in 0..<mine.count {
                    let before = previous[previousStart + offset]
                    let step = BFloat16.bits(rounding: elements[mine.lowerBound + offset] - before)
                    wire[wireStart + mine.lowerBound + offset] = step
                    elements[mine.lowerBound + offset] = before + BFloat16.float(step)
                }
            }
            return try communicator.startAllgatherv(
                inPlace: Self.octets(UnsafeMutableBufferPointer(rebasing: wire[wireRange(index)])), partition: bytePartitions[index])
        }
    }

    /// Once bucket `index`'s gather is complete: adds every other owner's rounded step to its
    /// segment of `elements` (this rank's was applied at the start).
    func finishGather(_ index: Int, elements: UnsafeMutableBufferPointer<Float>) {
        let partition = partitions[index]
        let wireStart = wireStarts[index]
        wire.withUnsafeBufferPointer { wire in
            for source in 0..<ranks where source != rank {
                for element in partition.range(of: source) { elements[element] += BFloat16.float(wire[wireStart + element]) }
            }
        }
    }

    /// `bits` as the bytes MPI moves (the memory is read as bytes, not rebound).
    private static func octets(_ bits: UnsafeMutableBufferPointer<UInt16>) -> UnsafeMutableBufferPointer<UInt8> {
        UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer(bits.baseAddress)?.assumingMemoryBound(to: UInt8.self), count: 2 * bits.count)
    }

    private func wireRange(_ index: Int) -> Range<Int> { wireStarts[index]..<(wireStarts[index] + partitions[index].total) }

    private func receivedRange(_ index: Int) -> Range<Int> {
        receivedStarts[index]..<(receivedStarts[index] + ranks * partitions[index].counts[rank])
    }
}
