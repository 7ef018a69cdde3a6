import Cluster
import Support

/// Where the communication of the gradient exchange went: how long the rank was blocked by it, in
/// which phase of the step, and how much of the time its transfers were in flight was hidden
/// behind computation.
///
/// Hidden time is the union of the intervals during which some transfer was in flight, less the
/// time the rank sat blocked in starts and waits; with every collective waited for at once it is
/// about zero.
struct ExchangeTiming {
    /// Seconds the rank was blocked by the exchange, by the phase it was in.
    struct Blocked {
        /// Waiting for the previous step's parameters in forward.
        var forward = 0.0
        /// Starting gradient reductions from backward.
        var backward = 0.0
        /// Waiting for reductions and starting gathers in the optimizer update.
        var update = 0.0
        /// In phases timed as communication already (the exchange phases, the settle before a reader).
        var communicationPhase = 0.0

        var total: Double { forward + backward + update + communicationPhase }
    }

    var blocked = Blocked()
    /// In-flight intervals, sorted by start, for the union.
    private var intervals: [(start: ContinuousClock.Instant, end: ContinuousClock.Instant)] = []

    init(capacity: Int) {
        intervals.reserveCapacity(max(1, capacity))
    }

    /// Books a start that blocked for `seconds` in `phase`.
    mutating func recordStart(_ request: CollectiveRequest, in phase: WritableKeyPath<Blocked, Double>) {
        blocked[keyPath: phase] += request.blockedAtStart.inSeconds
    }

    /// Books the wait for `request` (its start is booked already) and its in-flight interval.
    mutating func recordWait(for request: CollectiveRequest, _ completion: CollectiveCompletion, in phase: WritableKeyPath<Blocked, Double>) {
        blocked[keyPath: phase] += max(0, (completion.blocked - request.blockedAtStart).inSeconds)
        let position = intervals.firstIndex { $0.start > completion.started } ?? intervals.count
        intervals.insert((completion.started, max(completion.started, completion.finished)), at: position)
    }

    /// Seconds during which at least one transfer was in flight.
    var inFlightSeconds: Double {
        var total = 0.0
        var current: (start: ContinuousClock.Instant, end: ContinuousClock.Instant)?
        for interval in intervals {
            if let open = current, interval.start <= open.end {
                current = (open.start, max(open.end, interval.end))
            } else {
                if let open = current { total += open.start.duration(to: open.end).inSeconds }
                current = interval
            }
        }
        if let open = current { total += open.start.duration(to: open.end).inSeconds }
        return total
    }

    /// In-flight time during which the rank was not blocked by the exchange.
    var hiddenSeconds: Double { max(0, inFlightSeconds - blocked.total) }

    mutating func reset() {
        blocked = Blocked()
        intervals.removeAll(keepingCapacity: true)
    }
}
