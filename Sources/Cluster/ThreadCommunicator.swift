import Foundation

/// The communicator of a group of ranks inside one process, one thread per rank, so that
/// distributed code (bucketed gradient exchange, sharded optimizer state, resharding) gets unit
/// tests that run in milliseconds, beside the mpirun tests.
///
/// `run(ranks:_:)` starts the ranks, each with its own communicator. Every collective means what
/// it means under MPI: the same argument checks (the shared ones of `Communicator`), and the same
/// `.mismatch` error on every rank when the ranks enter different collectives, counts, partitions
/// or roots. Reductions combine the ranks in order 0, 1, ..., so results are deterministic.
///
/// Where MPI would hang or end the process, the group throws instead: a rank that leaves (its
/// body returns or throws) while others wait in a collective makes their collective throw
/// `.mismatch`, and `abort(code:)` ends the group with `.aborted` (see there).
///
/// Use each communicator on its rank's thread only, like an `MPICommunicator`.
package final class ThreadCommunicator: Communicator, Sendable {
    package let rank: Int
    package var size: Int { group.size }
    package let layout: RankLayout
    private let group: ThreadGroup

    private init(rank: Int, group: ThreadGroup) {
        self.rank = rank
        self.group = group
        layout = .thisHost(rank: rank, size: group.size)
    }

    /// Runs `body` on `ranks` threads at once, each with the communicator of its rank, and
    /// returns each rank's value, indexed by rank, once every thread has ended; or throws the
    /// first error (in time) that any rank threw, `.aborted` if a rank aborted first.
    package static func run<Value: Sendable>(
        ranks: Int, _ body: @escaping @Sendable (ThreadCommunicator) throws -> Value
    ) throws -> [Value] {
        precondition(ranks >= 1, "ThreadCommunicator: a group needs at least one rank, got \(ranks)")
        let group = ThreadGroup(size: ranks)
        let threads = (0..<ranks).map { rank in
            let communicator = ThreadCommunicator(rank: rank, group: group)
            return RankThread { group.leave(rank: rank, with: Result { try body(communicator) }) }
        }
        for thread in threads { thread.join() }
        return try group.results(as: Value.self)
    }

    // MARK: - Collectives

    package func allreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation
    ) throws {
        try checkAllreduce(count: buffer.count)
        let reduced = try group.collective(
            .allreduce(Element.self, count: buffer.count, operation: operation), rank: rank, input: Array(buffer))
        _ = buffer.update(fromContentsOf: reduced)
    }

    package func reduceScatter<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation
    ) throws {
        try checkReduceScatter(sendCount: send.count, receiveCount: receive.count, partition: partition)
        let reduced = try group.collective(
            .reduceScatter(Element.self, partition: partition, operation: operation), rank: rank, input: Array(send))
        _ = receive.update(fromContentsOf: reduced[partition.range(of: rank)])
    }

    package func allgather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>
    ) throws {
        try checkAllgather(sendCount: send.count, receiveCount: receive.count)
        let gathered = try group.collective(.allgather(Element.self, count: send.count), rank: rank, input: Array(send))
        _ = receive.update(fromContentsOf: gathered)
    }

    package func allgatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        let gathered = try group.collective(.allgatherv(Element.self, partition: partition), rank: rank, input: Array(send))
        _ = receive.update(fromContentsOf: gathered)
    }

    package func allgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAllgatherv(sendCount: nil, receiveCount: buffer.count, partition: partition)
        let gathered = try group.collective(
            .allgatherv(Element.self, partition: partition), rank: rank,
            input: Array(buffer[partition.range(of: rank)]))
        _ = buffer.update(fromContentsOf: gathered)
    }

    package func broadcast<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, root: Int
    ) throws {
        try checkBroadcast(count: buffer.count, root: root)
        let rootValues = try group.collective(
            .broadcast(Element.self, count: buffer.count, root: root), rank: rank,
            input: rank == root ? Array(buffer) : [])
        _ = buffer.update(fromContentsOf: rootValues)
    }

    package func gather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        root: Int
    ) throws {
        try checkGather(sendCount: send.count, receiveCount: receive?.count, root: root)
        let gathered = try group.collective(
            .gather(Element.self, count: send.count, root: root), rank: rank, input: Array(send))
        if rank == root, let receive { _ = receive.update(fromContentsOf: gathered) }
    }

    package func gatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        partition: Partition, root: Int
    ) throws {
        try checkGatherv(sendCount: send.count, receiveCount: receive?.count, partition: partition, root: root)
        let gathered = try group.collective(
            .gatherv(Element.self, partition: partition, root: root), rank: rank, input: Array(send))
        if rank == root, let receive { _ = receive.update(fromContentsOf: gathered) }
    }

    package func scatterv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>?, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, root: Int
    ) throws {
        try checkScatterv(sendCount: send?.count, receiveCount: receive.count, partition: partition, root: root)
        let whole = try group.collective(
            .scatterv(Element.self, partition: partition, root: root), rank: rank,
            input: rank == root ? Array(send!) : [])
        _ = receive.update(fromContentsOf: whole[partition.range(of: rank)])
    }

    package func alltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws {
        try checkAlltoallv(sendCount: send.count, receiveCount: receive.count, partition: partition)
        // Every rank's whole send buffer, in rank order; this rank keeps its segment of each.
        let sends = try group.collective(.alltoallv(Element.self, partition: partition), rank: rank, input: Array(send))
        let mine = partition.range(of: rank)
        for source in 0..<size {
            let from = source * partition.total
            _ = UnsafeMutableBufferPointer(rebasing: receive[(source * mine.count)..<((source + 1) * mine.count)])
                .update(fromContentsOf: sends[(from + mine.lowerBound)..<(from + mine.upperBound)])
        }
    }

    package func barrier() throws {
        _ = try group.collective(.barrier, rank: rank, input: [UInt8]())
    }

    /// Ends the group instead of the process: every rank waiting in a collective, and every
    /// collective entered later, throws `CommunicatorError.aborted(rank:code:)`, and so does
    /// `run` (unless a rank failed earlier). The calling thread, which must be this rank's,
    /// ends at once (`pthread_exit`), as the process would under MPI: no `defer` runs and what
    /// its stack held is leaked.
    package func abort(code: Int32) -> Never {
        group.abort(rank: rank, code: code)
        pthread_exit(nil)
    }
}

/// A joinable POSIX thread running one closure: a rank of `ThreadCommunicator.run`. A raw thread
/// rather than a `Thread` so that `run` can join it even when it ends by `pthread_exit`.
private struct RankThread {
    private let handle: pthread_t

    init(_ work: @escaping @Sendable () -> Void) {
        var handle = pthread_t()
        let code = pthread_create(&handle, nil, { context in
            Unmanaged<RankWork>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, Unmanaged.passRetained(RankWork(run: work)).toOpaque())
        precondition(code == 0, "ThreadCommunicator: pthread_create failed with \(code)")
        self.handle = handle
    }

    func join() {
        pthread_join(handle, nil)
    }
}

/// The closure of a `RankThread`, boxed to pass through `pthread_create`'s context pointer.
private final class RankWork: Sendable {
    let run: @Sendable () -> Void

    init(run: @escaping @Sendable () -> Void) {
        self.run = run
    }
}
