/// A non-blocking collective in flight, returned by a `Communicator`'s `start...` calls and
/// completed by `wait(for:)`.
///
/// Until the wait returns, the collective owns its buffers: the caller must neither read nor
/// write them, nor let them be freed. Every request must be waited for, in any order.
package struct CollectiveRequest: Sendable {
    /// The communicator's slot for the transfer; nil when the start already completed it.
    let slot: Int?
    /// When the collective was started.
    package let started: ContinuousClock.Instant
    /// How long the start itself blocked the caller (the whole collective, where a communicator
    /// has no non-blocking form).
    package let blockedAtStart: Duration
    /// When it completed, if the start completed it.
    let completedAtStart: ContinuousClock.Instant?

    init(slot: Int?, started: ContinuousClock.Instant, blockedAtStart: Duration, completedAtStart: ContinuousClock.Instant?) {
        self.slot = slot
        self.started = started
        self.blockedAtStart = blockedAtStart
        self.completedAtStart = completedAtStart
    }

    /// A collective that its start carried out in full, between `started` and now.
    static func completed(startedAt started: ContinuousClock.Instant) -> CollectiveRequest {
        let now = ContinuousClock.now
        return CollectiveRequest(slot: nil, started: started, blockedAtStart: started.duration(to: now), completedAtStart: now)
    }
}

/// When a waited-for collective ran and how much of it the caller sat through: the time split's
/// communication that was hidden behind computation and the part that was exposed.
package struct CollectiveCompletion: Sendable {
    /// When it was started.
    package let started: ContinuousClock.Instant
    /// When it was seen complete (by the progress engine between polls, or by the wait).
    package let finished: ContinuousClock.Instant
    /// How long the caller was blocked by it, in its start and its wait.
    package let blocked: Duration
}

/// The blocking fallback of the non-blocking collectives: a communicator without its own
/// non-blocking forms (one process, threads) carries the collective out at its start, so code
/// written for overlap runs unchanged, without the overlap.
extension Communicator {
    package func startAllreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation
    ) throws -> CollectiveRequest {
        let started = ContinuousClock.now
        try allreduce(buffer, operation: operation)
        return .completed(startedAt: started)
    }

    package func startReduceScatter<Element: CollectiveElement>(
        _ send: UnsafeMutableBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation
    ) throws -> CollectiveRequest {
        let started = ContinuousClock.now
        try reduceScatter(UnsafeBufferPointer(send), into: receive, partition: partition, operation: operation)
        return .completed(startedAt: started)
    }

    package func startAllgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws -> CollectiveRequest {
        let started = ContinuousClock.now
        try allgatherv(inPlace: buffer, partition: partition)
        return .completed(startedAt: started)
    }

    package func startReduceScatter<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition, operation: ReductionOperation
    ) throws -> CollectiveRequest {
        let started = ContinuousClock.now
        try reduceScatter(inPlace: buffer, partition: partition, operation: operation)
        return .completed(startedAt: started)
    }

    package func startAlltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>, partition: Partition
    ) throws -> CollectiveRequest {
        let started = ContinuousClock.now
        try alltoallv(send, into: receive, partition: partition)
        return .completed(startedAt: started)
    }

    /// The blocking in-place reduce-scatter: through a copy of this rank's result (collectives
    /// never receive into their send buffer).
    func reduceScatter<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition, operation: ReductionOperation
    ) throws {
        try checkReduceScatter(sendCount: buffer.count, receiveCount: partition.counts[rank], partition: partition)
        let mine = partition.range(of: rank)
        let result = try [Element](unsafeUninitializedCapacity: mine.count) { result, initialized in
            try reduceScatter(UnsafeBufferPointer(buffer), into: result, partition: partition, operation: operation)
            initialized = mine.count
        }
        _ = UnsafeMutableBufferPointer(rebasing: buffer[mine]).update(fromContentsOf: result)
    }

    package func wait(for request: CollectiveRequest) throws -> CollectiveCompletion {
        CollectiveCompletion(
            started: request.started, finished: request.completedAtStart ?? ContinuousClock.now, blocked: request.blockedAtStart)
    }
}
