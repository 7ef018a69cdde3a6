import Foundation

/// The communicator of a one-rank job: reductions and broadcasts leave the data as it is, gathers
/// copy. Arguments are checked exactly as the MPI communicator checks them, so code that runs
/// here also runs under mpirun.
public final class SingleProcessCommunicator: Communicator {
    public let rank = 0
    public let size = 1
    public let layout: RankLayout

    public init() {
        layout = .thisHost(rank: 0, size: 1)
    }

    public func allreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation
    ) throws {
        try checkAllreduce(count: buffer.count)
    }

    public func reduceScatter<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation
    ) throws {
        try checkReduceScatter(sendCount: send.count, receiveCount: receive.count, partition: partition)
        copy(send, to: receive, at: 0)
    }

    public func allgather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>
    ) throws {
        try checkAllgather(sendCount: send.count, receiveCount: receive.count)
        copy(send, to: receive, at: 0)
    }

    public func allgatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        copy(send, to: receive, at: 0)
    }

    public func allgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: nil, receiveCount: buffer.count, partition: partition)
    }

    public func broadcast<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, root: Int
    ) throws {
        try checkBroadcast(count: buffer.count, root: root)
    }

    public func gather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        root: Int
    ) throws {
        try checkGather(sendCount: send.count, receiveCount: receive?.count, root: root)
        copy(send, to: receive!, at: 0)
    }

    public func gatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        partition: Partition, root: Int
    ) throws {
        try checkGatherv(sendCount: send.count, receiveCount: receive?.count, partition: partition, root: root)
        copy(send, to: receive!, at: 0)
    }

    public func scatterv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>?, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, root: Int
    ) throws {
        try checkScatterv(sendCount: send?.count, receiveCount: receive.count, partition: partition, root: root)
        guard let send, let base = send.baseAddress, send.count > 0 else { return }
        receive.baseAddress!.update(from: base, count: send.count)
    }

    public func alltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAlltoallv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        _ = receive.update(fromContentsOf: send)
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
