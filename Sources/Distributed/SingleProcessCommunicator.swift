import Foundation

/// The communicator of a one-rank job: reductions and broadcasts leave the data as it is, gathers
/// copy. Arguments are checked exactly as the MPI communicator checks them, so code that runs
/// here also runs under mpirun.
public final class SingleProcessCommunicator: Communicator {
    public let rank = 0
    public let size = 1
    public let layout: RankLayout

    public init() {
        layout = RankLayout(rank: 0, hostnames: [ProcessInfo.processInfo.hostName], localRank: 0, localSize: 1)
    }

    public func allreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation
    ) throws {}

    public func reduceScatter<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation
    ) throws {
        try checkPartition(partition, "reduceScatter")
        try checkCount(send.count, expected: partition.total, "send buffer", "reduceScatter")
        try checkCount(receive.count, expected: partition.counts[0], "receive buffer", "reduceScatter")
        copy(send, to: receive, at: 0)
    }

    public func allgather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>
    ) throws {
        try checkCount(receive.count, expected: send.count, "receive buffer", "allgather")
        copy(send, to: receive, at: 0)
    }

    public func allgatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition
    ) throws {
        try checkPartition(partition, "allgatherv")
        try checkCount(send.count, expected: partition.counts[0], "send buffer", "allgatherv")
        try checkCount(receive.count, expected: partition.total, "receive buffer", "allgatherv")
        copy(send, to: receive, at: 0)
    }

    public func allgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkPartition(partition, "allgatherv")
        try checkCount(buffer.count, expected: partition.total, "buffer", "allgatherv")
    }

    public func broadcast<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, root: Int
    ) throws {
        try checkRoot(root, "broadcast")
    }

    public func gather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        root: Int
    ) throws {
        try checkRoot(root, "gather")
        guard let receive else { throw CommunicatorError.invalidArgument("gather: the root needs a receive buffer") }
        try checkCount(receive.count, expected: send.count, "receive buffer", "gather")
        copy(send, to: receive, at: 0)
    }

    public func gatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        partition: Partition, root: Int
    ) throws {
        try checkRoot(root, "gatherv")
        try checkPartition(partition, "gatherv")
        try checkCount(send.count, expected: partition.counts[0], "send buffer", "gatherv")
        guard let receive else { throw CommunicatorError.invalidArgument("gatherv: the root needs a receive buffer") }
        try checkCount(receive.count, expected: partition.total, "receive buffer", "gatherv")
        copy(send, to: receive, at: 0)
    }

    public func barrier() throws {}

    public func abort(code: Int32) -> Never {
        exit(code)
    }

    private func copy<Element>(
        _ source: UnsafeBufferPointer<Element>, to destination: UnsafeMutableBufferPointer<Element>, at offset: Int
    ) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        (destination.baseAddress! + offset).update(from: base, count: source.count)
    }
}
