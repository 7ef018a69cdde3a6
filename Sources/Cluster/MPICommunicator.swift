import CMPI
import Foundation

/// A communicator over MPI: one process per rank, started by mpirun.
///
/// Every MPI return code is checked (the world communicator returns errors instead of aborting)
/// and becomes a `CommunicatorError` carrying `MPI_Error_string`. Before each collective the ranks
/// exchange a small signature of the call (`checksCollectives`, on by default), so ranks that
/// disagree on the call or its sizes get a clear error on every rank instead of a hang.
///
/// Not safe for concurrent use: issue collectives from one thread at a time, in the same order
/// on every rank.
package final class MPICommunicator: Communicator {
    package let rank: Int
    package let size: Int
    package let layout: RankLayout
    /// Whether collectives are preceded by the cross-rank signature check.
    package var checksCollectives: Bool

    /// How often a progress thread moves non-blocking collectives forward while the caller
    /// computes (`MPIRequestPool`); nil (the default): only in `wait(for:)`.
    package var progressInterval: Duration? {
        didSet { requests.setPollInterval(progressInterval) }
    }

    private let communicator: MPI_Comm
    private var signatures: [Int64]
    private let requests = MPIRequestPool(pollInterval: nil)
    /// The receive partitions of alltoallvs (`receivedPartition(of:)`), by this rank's count.
    private var receivedPartitions: [Int: Partition] = [:]

    /// The world communicator; initialises MPI on first use.
    package static func world(checksCollectives: Bool = true) throws(CommunicatorError) -> MPICommunicator {
        try MPIRuntime.initialize()
        return try MPICommunicator(MPI_COMM_WORLD, checksCollectives: checksCollectives)
    }

    private init(_ communicator: MPI_Comm, checksCollectives: Bool) throws(CommunicatorError) {
        self.communicator = communicator
        self.checksCollectives = checksCollectives
        var rank: Int32 = 0
        var size: Int32 = 0
        try MPIRuntime.check(MPI_Comm_rank(communicator, &rank), "MPI_Comm_rank")
        try MPIRuntime.check(MPI_Comm_size(communicator, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
        self.signatures = [Int64](repeating: 0, count: Int(size) * CollectiveSignature.encodedCount)
        self.layout = try Self.discoverLayout(communicator, rank: Int(rank), size: Int(size))
    }

    /// Gathers every rank's processor name and finds this rank's place among the ranks that share
    /// its node (`MPI_Comm_split_type` with `MPI_COMM_TYPE_SHARED`).
    private static func discoverLayout(_ communicator: MPI_Comm, rank: Int, size: Int) throws(CommunicatorError) -> RankLayout {
        let width = Int(spectrain_max_processor_name) + 1
        var name = [CChar](repeating: 0, count: width)
        var length: Int32 = 0
        try MPIRuntime.check(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name")
        var all = [CChar](repeating: 0, count: width * size)
        try MPIRuntime.check(
            MPI_Allgather(name, Int32(width), MPI_BYTE, &all, Int32(width), MPI_BYTE, communicator),
            "MPI_Allgather (processor names)")
        let hostnames = (0..<size).map { index -> String in
            let bytes = all[(index * width)..<((index + 1) * width)].prefix { $0 != 0 }
            return String(decoding: bytes.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        var local: MPI_Comm? = nil
        try MPIRuntime.check(
            MPI_Comm_split_type(communicator, Int32(MPI_COMM_TYPE_SHARED), Int32(rank), MPI_INFO_NULL, &local),
            "MPI_Comm_split_type")
        defer { MPI_Comm_free(&local) }
        var localRank: Int32 = 0
        var localSize: Int32 = 0
        try MPIRuntime.check(MPI_Comm_rank(local, &localRank), "MPI_Comm_rank (node)")
        try MPIRuntime.check(MPI_Comm_size(local, &localSize), "MPI_Comm_size (node)")
        return RankLayout(rank: rank, hostnames: hostnames, localRank: Int(localRank), localSize: Int(localSize))
    }

    // MARK: - Collectives

    package func allreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation
    ) throws {
        try checkAllreduce(count: buffer.count)
        try agree(on: .allreduce(Element.self, count: buffer.count, operation: operation))
        try mpi("MPI_Allreduce") { MPI_Allreduce(
                UnsafeRawPointer(MPI_IN_PLACE), buffer.baseAddress, Int32(buffer.count),
                datatype(Element.self), mpiOperation(operation), communicator) }
    }

    package func reduceScatter<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation
    ) throws {
        try checkReduceScatter(sendCount: send.count, receiveCount: receive.count, partition: partition)
        try agree(on: .reduceScatter(Element.self, partition: partition, operation: operation))
        try mpi("MPI_Reduce_scatter") {
            partition.withMPICounts { counts in
                MPI_Reduce_scatter(
                    send.baseAddress, receive.baseAddress, counts.baseAddress,
                    datatype(Element.self), mpiOperation(operation), communicator)
            }
        }
    }

    package func allgather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>
    ) throws {
        try checkAllgather(sendCount: send.count, receiveCount: receive.count)
        try agree(on: .allgather(Element.self, count: send.count))
        let type = datatype(Element.self)
        try mpi("MPI_Allgather") { MPI_Allgather(send.baseAddress, Int32(send.count), type, receive.baseAddress, Int32(send.count), type, communicator) }
    }

    package func allgatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        try allgatherv(UnsafeRawPointer(send.baseAddress), sendCount: send.count, into: receive, partition: partition)
    }

    package func allgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: nil, receiveCount: buffer.count, partition: partition)
        try allgatherv(UnsafeRawPointer(MPI_IN_PLACE), sendCount: 0, into: buffer, partition: partition)
    }

    /// `MPI_Allgatherv` after the checks; `send` may be `MPI_IN_PLACE`.
    private func allgatherv<Element: CollectiveElement>(
        _ send: UnsafeRawPointer?, sendCount: Int, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition
    ) throws {
        try agree(on: .allgatherv(Element.self, partition: partition))
        let type = datatype(Element.self)
        try mpi("MPI_Allgatherv") {
            partition.withMPICounts { counts in
                partition.withMPIOffsets { offsets in
                    MPI_Allgatherv(
                        send, Int32(sendCount), type,
                        receive.baseAddress, counts.baseAddress, offsets.baseAddress, type, communicator)
                }
            }
        }
    }

    package func broadcast<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, root: Int
    ) throws {
        try checkBroadcast(count: buffer.count, root: root)
        try agree(on: .broadcast(Element.self, count: buffer.count, root: root))
        try mpi("MPI_Bcast") { MPI_Bcast(buffer.baseAddress, Int32(buffer.count), datatype(Element.self), Int32(root), communicator) }
    }

    package func gather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        root: Int
    ) throws {
        try checkGather(sendCount: send.count, receiveCount: receive?.count, root: root)
        try agree(on: .gather(Element.self, count: send.count, root: root))
        let type = datatype(Element.self)
        try mpi("MPI_Gather") { MPI_Gather(
                send.baseAddress, Int32(send.count), type,
                rank == root ? receive?.baseAddress : nil, Int32(send.count), type, Int32(root), communicator) }
    }

    package func gatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        partition: Partition, root: Int
    ) throws {
        try checkGatherv(sendCount: send.count, receiveCount: receive?.count, partition: partition, root: root)
        try agree(on: .gatherv(Element.self, partition: partition, root: root))
        let type = datatype(Element.self)
        try mpi("MPI_Gatherv") {
            partition.withMPICounts { counts in
                partition.withMPIOffsets { offsets in
                    MPI_Gatherv(
                        send.baseAddress, Int32(send.count), type,
                        rank == root ? receive?.baseAddress : nil, counts.baseAddress, offsets.baseAddress, type,
                        Int32(root), communicator)
                }
            }
        }
    }

    package func scatterv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>?, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, root: Int
    ) throws {
        try checkScatterv(sendCount: send?.count, receiveCount: receive.count, partition: partition, root: root)
        try agree(on: .scatterv(Element.self, partition: partition, root: root))
        let type = datatype(Element.self)
        try mpi("MPI_Scatterv") {
            partition.withMPICounts { counts in
                partition.withMPIOffsets { offsets in
                    MPI_Scatterv(
                        rank == root ? send?.baseAddress : nil, counts.baseAddress, offsets.baseAddress, type,
                        receive.baseAddress, Int32(receive.count), type, Int32(root), communicator)
                }
            }
        }
    }

    package func alltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAlltoallv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        try agree(on: .alltoallv(Element.self, partition: partition))
        let (type, received) = (datatype(Element.self), receivedPartition(of: partition))
        try mpi("MPI_Alltoallv") {
            partition.withAlltoallvCounts(received: received) { sendCounts, sendOffsets, receiveCounts, receiveOffsets in
                MPI_Alltoallv(
                    send.baseAddress, sendCounts, sendOffsets, type,
                    receive.baseAddress, receiveCounts, receiveOffsets, type, communicator)
            }
        }
    }

    /// This rank's count from every rank, in rank order: what it receives in an alltoallv over
    /// `partition`. Kept per count, so that a non-blocking alltoallv's counts outlive it.
    private func receivedPartition(of partition: Partition) -> Partition {
        let count = partition.counts[rank]
        // The count times the ranks fits 32 bits (`checkAlltoallv`), so this cannot fail.
        let received = receivedPartitions[count] ?? (try! Partition(counts: [Int](repeating: count, count: size)))
        receivedPartitions[count] = received
        return received
    }

    package func barrier() throws {
        try agree(on: .barrier)
        try mpi("MPI_Barrier") { MPI_Barrier(communicator) }
    }

    // MARK: - Non-blocking collectives

    package func startAllreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation
    ) throws -> CollectiveRequest {
        try checkAllreduce(count: buffer.count)
        let started = ContinuousClock.now
        let slot = try requests.start("MPI_Iallreduce") { request in
            MPI_Iallreduce(
                UnsafeRawPointer(MPI_IN_PLACE), buffer.baseAddress, Int32(buffer.count),
                datatype(Element.self), mpiOperation(operation), communicator, request)
        }
        return started.request(slot: slot)
    }

    package func startReduceScatter<Element: CollectiveElement>(
        _ send: UnsafeMutableBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation
    ) throws -> CollectiveRequest {
        try checkReduceScatter(sendCount: send.count, receiveCount: receive.count, partition: partition)
        let started = ContinuousClock.now
        if Element.self == Float.self, operation == .sum {
            // The ring (`RingReduceScatter`) instead of libnbc's reduce-to-root; it sums in the send buffer.
            let slot = try requests.startRing(
                buffer: UnsafeMutableBufferPointer(
                    start: UnsafeMutableRawPointer(send.baseAddress)?.assumingMemoryBound(to: Float.self), count: send.count),
                receive: UnsafeMutableBufferPointer(
                    start: UnsafeMutableRawPointer(receive.baseAddress)?.assumingMemoryBound(to: Float.self), count: receive.count),
                partition: partition, rank: rank, size: size, communicator: communicator)
            return started.request(slot: slot)
        }
        // MPI reads the counts until the request completes: the partition keeps them in place.
        let slot = try requests.start("MPI_Ireduce_scatter") { request in
            partition.withMPICounts { counts in
                MPI_Ireduce_scatter(
                    send.baseAddress, receive.baseAddress, counts.baseAddress,
                    datatype(Element.self), mpiOperation(operation), communicator, request)
            }
        }
        return started.request(slot: slot)
    }

    package func startReduceScatter<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition, operation: ReductionOperation
    ) throws -> CollectiveRequest {
        try checkReduceScatter(sendCount: buffer.count, receiveCount: partition.counts[rank], partition: partition)
        let started = ContinuousClock.now
        guard Element.self == Float.self, operation == .sum else {
            // MPI's in-place reduce-scatter leaves the result at the buffer's start, not at this
            // rank's segment: other types and operations go the blocking way, through a copy.
            try reduceScatter(inPlace: buffer, partition: partition, operation: operation)
            return .completed(startedAt: started)
        }
        // The ring sums in the buffer; its delivery to this rank's own segment is no copy.
        let floats = UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: Float.self), count: buffer.count)
        let slot = try requests.startRing(
            buffer: floats, receive: UnsafeMutableBufferPointer(rebasing: floats[partition.range(of: rank)]),
            partition: partition, rank: rank, size: size, communicator: communicator)
        return started.request(slot: slot)
    }

    package func startAlltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws -> CollectiveRequest {
        try checkAlltoallv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        let started = ContinuousClock.now
        let (type, received) = (datatype(Element.self), receivedPartition(of: partition))
        let slot = try requests.start("MPI_Ialltoallv") { request in
            partition.withAlltoallvCounts(received: received) { sendCounts, sendOffsets, receiveCounts, receiveOffsets in
                MPI_Ialltoallv(
                    send.baseAddress, sendCounts, sendOffsets, type,
                    receive.baseAddress, receiveCounts, receiveOffsets, type, communicator, request)
            }
        }
        return started.request(slot: slot)
    }

    package func startAllgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws -> CollectiveRequest {
        try checkAllgatherv(sendCount: nil, receiveCount: buffer.count, partition: partition)
        let started = ContinuousClock.now
        let type = datatype(Element.self)
        let slot = try requests.start("MPI_Iallgatherv") { request in
            partition.withMPICounts { counts in
                partition.withMPIOffsets { offsets in
                    MPI_Iallgatherv(
                        UnsafeRawPointer(MPI_IN_PLACE), 0, type,
                        buffer.baseAddress, counts.baseAddress, offsets.baseAddress, type, communicator, request)
                }
            }
        }
        return started.request(slot: slot)
    }

    package func wait(for request: CollectiveRequest) throws -> CollectiveCompletion {
        guard let slot = request.slot else {
            return CollectiveCompletion(started: request.started, finished: request.completedAtStart ?? .now, blocked: request.blockedAtStart)
        }
        let entered = ContinuousClock.now
        let finished = try requests.wait(slot: slot, call: "MPI_Wait")
        return CollectiveCompletion(
            started: request.started, finished: finished, blocked: request.blockedAtStart + entered.duration(to: .now))
    }

    package func abort(code: Int32) -> Never {
        MPI_Abort(communicator, code)
        exit(code)
    }

    // MARK: - Helpers

    /// Exchanges `signature` with every rank and throws `.mismatch` on all of them if any differs.
    private func agree(on signature: CollectiveSignature) throws(CommunicatorError) {
        guard checksCollectives, size > 1 else { return }
        let (rank, size) = (self.rank, self.size)
        try mpi("MPI_Allgather (collective signature)") {
            signatures.withUnsafeMutableBufferPointer { buffer in
                signature.encode(into: buffer, at: rank * CollectiveSignature.encodedCount)
                return MPI_Allgather(
                    UnsafeRawPointer(MPI_IN_PLACE), 0, MPI_INT64_T,
                    buffer.baseAddress, Int32(CollectiveSignature.encodedCount), MPI_INT64_T, communicator)
            }
        }
        let message: String? = signatures.withUnsafeBufferPointer { gathered in
            if CollectiveSignature.allAgree(gathered, ranks: size) { return nil }
            return CollectiveSignature.describeDisagreement(gathered, ranks: size)
        }
        if let message { throw .mismatch(message) }
    }

    /// Runs the MPI call `body` (returning its code) under the request pool's lock and checks the code.
    private func mpi(_ call: @autoclosure () -> String, _ body: () -> Int32) throws(CommunicatorError) {
        let code = try requests.withMPI { () throws(CommunicatorError) in body() }
        try MPIRuntime.check(code, call())
    }

    private func datatype<Element: CollectiveElement>(_: Element.Type) -> MPI_Datatype {
        switch Element.elementType {
        case .float32: return MPI_FLOAT
        case .float64: return MPI_DOUBLE
        case .int32: return MPI_INT32_T
        case .int64: return MPI_INT64_T
        case .uint8: return MPI_UINT8_T
        }
    }

    private func mpiOperation(_ operation: ReductionOperation) -> MPI_Op {
        switch operation {
        case .sum: return MPI_SUM
        case .max: return MPI_MAX
        case .min: return MPI_MIN
        }
    }
}

extension ContinuousClock.Instant {
    /// A request started at this instant, in flight in `slot`.
    fileprivate func request(slot: Int) -> CollectiveRequest {
        CollectiveRequest(slot: slot, started: self, blockedAtStart: duration(to: .now), completedAtStart: nil)
    }
}
