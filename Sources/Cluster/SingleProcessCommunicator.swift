import Foundation

/// The communicator of a one-rank job: reductions and broadcasts leave the data as it is, gathers
/// copy. Arguments are checked exactly as the MPI communicator checks them, so code that runs
/// here also runs under mpirun.
package final class SingleProcessCommunicator: Communicator {
    package let rank = 0
    package let size = 1
    package let layout: RankLayout

    package init() {
        layout = .thisHost(rank: 0, size: 1)
    }

    package func allreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation
    ) throws {
        try checkAllreduce(count: buffer.count)
    }

    package func reduceScatter<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation
    ) throws {
        try checkReduceScatter(sendCount: send.count, receiveCount: receive.count, partition: partition)
        copy(send, to: receive, at: 0)
    }

    package func allgather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>
    ) throws {
        try checkAllgather(sendCount: send.count, receiveCount: receive.count)
        copy(send, to: receive, at: 0)
    }

    package func allgatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        copy(send, to: receive, at: 0)
    }

    package func allgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: nil, receiveCount: buffer.count, partition: partition)
    }

    package func broadcast<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, root: Int
    ) throws {
        try checkBroadcast(count: buffer.count, root: root)
    }

    package func gather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        root: Int
    ) throws {
        try checkGather(sendCount: send.count, receiveCount: receive?.count, root: root)
        copy(send, to: receive!, at: 0)
    }

    package func gatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        partition: Partition, root: Int
    ) throws {
        try checkGatherv(sendCount: send.count, receiveCount: receive?.count, partition: partition, root: root)
        copy(send, to: receive!, at: 0)
    }

    package func scatterv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>?, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, root: Int
    ) throws {
        try checkScatterv(sendCount: send?.count, receiveCount: receive.count, partition: partition, root: root)
        guard let send, let base = send.baseAddress, send.count > 0 else { return }
        receive.baseAddress!.update(from: base, count: send.count)
    }

    package func alltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAlltoallv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        _ = receive.update(fromContentsOf: send)
    }

    package func barrier() throws {}

    package func abort(code: Int32) -> Never {
        exit(code)
    }

    private func copy<Element>(
        _ source: UnsafeBufferPointer<Element>, to destination: UnsafeMutableBufferPointer<Element>, at offset: Int
    ) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        (destination.baseAddress! + offset).update(from: base, count: source.count)
    }
}
