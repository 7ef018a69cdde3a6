import Dispatch
import Synchronization

/// What the ranks of one `ThreadCommunicator.run` share: who waits in which collective with what
/// input, who has left the group and how, and whether a rank aborted.
///
/// A collective completes when the last rank enters it: that rank checks that every rank's
/// `CollectiveSignature` agrees (else every rank gets the `.mismatch` MPI would report) and
/// combines the inputs, in rank order, into one result from which each rank copies its part.
/// Inputs and results are copies held in arrays, so no rank touches another rank's buffers. A
/// rank waiting in a collective sleeps on its own semaphore, signalled once when the collective
/// ends for it: completed, failed because a rank left the group, or ended by an abort.
final class ThreadGroup: Sendable {
    let size: Int
    private let state: Mutex<State>
    private let wakeups: [DispatchSemaphore]

    private struct Arrival: Sendable {
        var signature: CollectiveSignature
        /// The rank's contribution, an `[Element]`.
        var input: any Sendable
    }

    /// How a collective ended for a rank that entered it.
    private enum Delivery: Sendable {
        /// The combined result, an `[Element]`, the same for every rank.
        case result(any Sendable)
        case failure(CommunicatorError)
    }

    private enum Departure: Sendable {
        case returned(any Sendable)
        case threw(any Error)
        case aborted
    }

    private struct State {
        var arrivals: [Arrival?]
        var deliveries: [Delivery?]
        var departures: [Departure?]
        /// The first error of any rank, in time: what `run` throws.
        var firstFailure: (any Error)?
        /// Set by the first `abort`: every collective from then on fails with it.
        var abort: CommunicatorError?
    }

    init(size: Int) {
        self.size = size
        state = Mutex(State(
            arrivals: Array(repeating: nil, count: size), deliveries: Array(repeating: nil, count: size),
            departures: Array(repeating: nil, count: size)))
        wakeups = (0..<size).map { _ in DispatchSemaphore(value: 0) }
    }

    /// Enters the collective `signature` on `rank` with `input` and returns the combined result
    /// once every rank has entered the same collective.
    func collective<Element: CollectiveElement>(
        _ signature: CollectiveSignature, rank: Int, input: [Element]
    ) throws(CommunicatorError) -> [Element] {
        state.withLock { state in
            state.arrivals[rank] = Arrival(signature: signature, input: input)
            if let abort = state.abort {
                release(&state, .failure(abort))
            } else if state.departures.contains(where: { $0 != nil }) {
                release(&state, .failure(.mismatch(describe(state))))
            } else if state.arrivals.allSatisfy({ $0 != nil }) {
                release(&state, complete(state, Element.self))
            }
        }
        wakeups[rank].wait()
        switch state.withLock({ $0.deliveries[rank].take()! }) {
        case .result(let result):
            // Every rank's element type is `Element`: `complete` checked the inputs' types.
            return result as! [Element]
        case .failure(let error):
            throw error
        }
    }

    /// Records that `rank` left the group with `outcome` (its body returned or threw); ranks
    /// waiting in a collective, which can no longer complete, get a `.mismatch`.
    func leave<Value: Sendable>(rank: Int, with outcome: Result<Value, any Error>) {
        state.withLock { state in
            switch outcome {
            case .success(let value):
                state.departures[rank] = .returned(value)
            case .failure(let error):
                state.departures[rank] = .threw(error)
                if state.firstFailure == nil { state.firstFailure = error }
            }
            if state.arrivals.contains(where: { $0 != nil }) {
                release(&state, .failure(.mismatch(describe(state))))
            }
        }
    }

    /// Ends the group: ranks in a collective now, and every collective entered later, fail with
    /// `.aborted(rank:code:)` (of the first rank that aborted).
    func abort(rank: Int, code: Int32) {
        state.withLock { state in
            let error = CommunicatorError.aborted(rank: rank, code: code)
            state.departures[rank] = .aborted
            if state.firstFailure == nil { state.firstFailure = error }
            if state.abort == nil { state.abort = error }
            release(&state, .failure(error))
        }
    }

    /// Every rank's returned value once all ranks have left, or the first error any rank threw.
    func results<Value: Sendable>(as _: Value.Type) throws -> [Value] {
        try state.withLock { state in
            if let failure = state.firstFailure { throw failure }
            return state.departures.map { departure in
                guard case .returned(let value)? = departure else {
                    preconditionFailure("ThreadGroup: results before every rank has left")
                }
                return value as! Value
            }
        }
    }

    /// Ends the current collective for every rank in it with `delivery`.
    private func release(_ state: inout State, _ delivery: Delivery) {
        for rank in 0..<size where state.arrivals[rank] != nil {
            state.arrivals[rank] = nil
            state.deliveries[rank] = delivery
            wakeups[rank].signal()
        }
    }

    /// The outcome of a collective every rank has entered.
    private func complete<Element: CollectiveElement>(_ state: State, _: Element.Type) -> Delivery {
        let arrivals = state.arrivals.map { $0! }
        let signature = arrivals[0].signature
        guard arrivals.allSatisfy({ $0.signature == signature }) else {
            return .failure(.mismatch(describe(state)))
        }
        let inputs = arrivals.compactMap { $0.input as? [Element] }
        guard inputs.count == size else {
            return .failure(.mismatch("the ranks called \(signature) with different Swift types"))
        }
        return .result(Self.combine(signature, inputs))
    }

    /// The one result of the collective `signature` from every rank's input, in rank order: the
    /// elementwise reduction (combining rank 0 with 1, then with 2, ...), the concatenation, or
    /// the root's input.
    static func combine<Element: CollectiveElement>(
        _ signature: CollectiveSignature, _ inputs: [[Element]]
    ) -> [Element] {
        switch signature.kind {
        case .allreduce, .reduceScatter:
            let operation = ReductionOperation(rawValue: signature.operationOrRoot)!
            var result = inputs[0]
            for input in inputs.dropFirst() {
                for index in result.indices { result[index] = operation.combine(result[index], input[index]) }
            }
            return result
        case .allgather, .allgatherv, .gather, .gatherv, .alltoallv:
            return Array(inputs.joined())
        case .broadcast, .scatterv:
            return inputs[Int(signature.operationOrRoot)]
        case .barrier:
            return []
        }
    }

    /// Who called what and who has left, in the words of `CollectiveSignature.describe(actions:)`;
    /// with every rank in a collective, the text MPI's signature check gives.
    private func describe(_ state: State) -> String {
        CollectiveSignature.describe(actions: (0..<size).compactMap { rank in
            if let arrival = state.arrivals[rank] { return (rank, "called \(arrival.signature)") }
            switch state.departures[rank] {
            case .returned?: return (rank, "had returned")
            case .threw(let error)?: return (rank, "had thrown \(error)")
            case .aborted?: return (rank, "had aborted")
            case nil: return nil
            }
        })
    }
}
