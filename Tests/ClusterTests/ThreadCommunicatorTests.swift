@testable import Cluster
import Synchronization
import Testing

/// Ranks as threads: every collective against results computed directly from each rank's
/// contribution, mismatches and failing ranks that must end in errors rather than hangs. The time
/// limit turns a deadlock into a failure. Comparisons are exact: the reference reductions combine
/// the ranks in the same order (0, 1, ...) the communicator promises.
@Suite("Thread communicator", .timeLimit(.minutes(1)))
struct ThreadCommunicatorTests {
    /// Per-rank counts with empty segments at the start, middle and end, for each group size.
    static let partitions: [Int: [[Int]]] = [
        1: [[5], [0]],
        2: [[0, 3], [4, 1]],
        3: [[3, 0, 2], [0, 0, 4], [0, 0, 0]],
        4: [[1, 0, 4, 0], [0, 2, 0, 3]],
    ]

    /// Rank `rank`'s value at `index`: magnitudes far apart, so a Float32 sum depends on the order
    /// in which the ranks are combined.
    static func contribution(rank: Int, index: Int) -> Float {
        [1e8, -1e8, 1, 0.375][rank % 4] * Float(index % 7 + 1) + Float(rank) / 8
    }

    /// The reduction over ranks 0, 1, ..., `ranks - 1` of their contributions at `index`.
    static func reduction(ranks: Int, index: Int, operation: ReductionOperation, reversed: Bool = false) -> Float {
        let order = reversed ? Array((0..<ranks).reversed()) : Array(0..<ranks)
        var result = contribution(rank: order[0], index: index)
        for rank in order.dropFirst() {
            let value = contribution(rank: rank, index: index)
            switch operation {
            case .sum: result += value
            case .max: result = max(result, value)
            case .min: result = min(result, value)
            }
        }
        return result
    }

    static func contributions(rank: Int, indices: Range<Int>) -> [Float] {
        indices.map { contribution(rank: rank, index: $0) }
    }

    /// Every rank's contribution over its own segment of `partition`, in rank order.
    static func segments(_ partition: Partition) -> [Float] {
        (0..<partition.counts.count).flatMap { contributions(rank: $0, indices: partition.range(of: $0)) }
    }

    // MARK: - Collectives

    @Test("the collective self-test passes on every rank", arguments: [1, 2, 3, 4])
    func selfTest(ranks: Int) throws {
        let outcomes = try ThreadCommunicator.run(ranks: ranks) {
            try CollectiveSelfTest.run(on: $0, largeCount: 1000)
        }
        #expect(outcomes.allSatisfy { $0.failures.isEmpty && $0.failuresOnAllRanks == 0 && $0.checks >= 20 })
    }

    @Test("allreduce combines the ranks in order 0, 1, ...; every rank gets the same bits", arguments: [1, 2, 3, 4])
    func allreduce(ranks: Int) throws {
        let count = 9
        for operation in [ReductionOperation.sum, .max, .min] {
            let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                var values = Self.contributions(rank: communicator.rank, indices: 0..<count)
                try communicator.allreduce(&values, operation: operation)
                return values
            }
            let expected = (0..<count).map { Self.reduction(ranks: ranks, index: $0, operation: operation) }
            #expect(results.allSatisfy { $0.map(\.bitPattern) == expected.map(\.bitPattern) })
        }
        if ranks >= 3 {
            // The data can tell the orders apart, so the check above would see another order.
            let reversed = (0..<count).map { Self.reduction(ranks: ranks, index: $0, operation: .sum, reversed: true) }
            let expected = (0..<count).map { Self.reduction(ranks: ranks, index: $0, operation: .sum) }
            #expect(reversed != expected)
        }
        let integers = try ThreadCommunicator.run(ranks: ranks) { communicator in
            try communicator.allreduce(Int32.max - Int32(communicator.rank), operation: .sum)
        }
        let wrapped = (0..<ranks).reduce(Int32(0)) { $0 &+ (Int32.max - Int32($1)) }
        #expect(integers == Array(repeating: wrapped, count: ranks))
    }

    @Test("reduceScatter leaves each rank its segment of the reduction", arguments: [1, 2, 3, 4])
    func reduceScatter(ranks: Int) throws {
        for counts in Self.partitions[ranks]! {
            let partition = try Partition(counts: counts)
            let segments = try ThreadCommunicator.run(ranks: ranks) { communicator in
                try communicator.reduceScatter(
                    Self.contributions(rank: communicator.rank, indices: 0..<partition.total),
                    partition: partition, operation: .sum)
            }
            for rank in 0..<ranks {
                #expect(segments[rank] == partition.range(of: rank).map { Self.reduction(ranks: ranks, index: $0, operation: .sum) })
            }
        }
    }

    @Test("allgather and allgatherv (copying and in place) give every rank all segments in rank order", arguments: [1, 2, 3, 4])
    func allgathers(ranks: Int) throws {
        let gathered = try ThreadCommunicator.run(ranks: ranks) { communicator in
            try communicator.allgather((0..<3).map { Int32(communicator.rank * 10 + $0) })
        }
        #expect(gathered.allSatisfy { $0 == (0..<ranks).flatMap { rank in (0..<3).map { Int32(rank * 10 + $0) } } })

        for counts in Self.partitions[ranks]! {
            let partition = try Partition(counts: counts)
            let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                let rank = communicator.rank
                let copied = try communicator.allgatherv(
                    Self.contributions(rank: rank, indices: partition.range(of: rank)), partition: partition)
                var inPlace = [Float](repeating: .nan, count: partition.total)
                inPlace.replaceSubrange(partition.range(of: rank), with: Self.contributions(rank: rank, indices: partition.range(of: rank)))
                try inPlace.withUnsafeMutableBufferPointer { try communicator.allgatherv(inPlace: $0, partition: partition) }
                return [copied, inPlace]
            }
            #expect(results.allSatisfy { $0 == [Self.segments(partition), Self.segments(partition)] })
        }
    }

    @Test("broadcast copies the root's buffer to every rank, from every root", arguments: [1, 2, 3, 4])
    func broadcast(ranks: Int) throws {
        for root in 0..<ranks {
            let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                var values = (0..<5).map { Double(communicator.rank * 100 + $0) }
                try communicator.broadcast(&values, root: root)
                return values
            }
            #expect(results.allSatisfy { $0 == (0..<5).map { Double(root * 100 + $0) } })
        }
    }

    @Test("gather and gatherv fill the root's buffer only; the others' buffers stay as they were", arguments: [1, 2, 3, 4])
    func gathers(ranks: Int) throws {
        let untouched: Float = -7
        for counts in Self.partitions[ranks]! {
            let partition = try Partition(counts: counts)
            for root in 0..<ranks {
                let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                    let rank = communicator.rank
                    let send = Self.contributions(rank: rank, indices: partition.range(of: rank))
                    var gatheredV = [Float](repeating: untouched, count: partition.total)
                    try send.withUnsafeBufferPointer { send in
                        try gatheredV.withUnsafeMutableBufferPointer {
                            try communicator.gatherv(send, into: $0, partition: partition, root: root)
                        }
                    }
                    let pair = [Float(rank), Float(-rank)]
                    var gathered = [Float](repeating: untouched, count: 2 * ranks)
                    try pair.withUnsafeBufferPointer { send in
                        try gathered.withUnsafeMutableBufferPointer { try communicator.gather(send, into: $0, root: root) }
                    }
                    return [gatheredV, gathered]
                }
                for rank in 0..<ranks {
                    let expectedV = rank == root ? Self.segments(partition) : Array(repeating: untouched, count: partition.total)
                    let expected = rank == root
                        ? (0..<ranks).flatMap { [Float($0), Float(-$0)] } : Array(repeating: untouched, count: 2 * ranks)
                    #expect(results[rank] == [expectedV, expected])
                }
            }
        }
    }

    @Test("scatterv sends each rank its segment of the root's buffer; the others' send buffers are ignored", arguments: [1, 2, 3, 4])
    func scatterv(ranks: Int) throws {
        for counts in Self.partitions[ranks]! {
            let partition = try Partition(counts: counts)
            for root in 0..<ranks {
                let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                    let rank = communicator.rank
                    // A non-root's send buffer has a wrong length and other data: both ignored.
                    let send = rank == root
                        ? Self.contributions(rank: root, indices: 0..<partition.total) : [Float](repeating: 3, count: 1)
                    var receive = [Float](repeating: .nan, count: partition.counts[rank])
                    try send.withUnsafeBufferPointer { send in
                        try receive.withUnsafeMutableBufferPointer {
                            try communicator.scatterv(send, into: $0, partition: partition, root: root)
                        }
                    }
                    return receive
                }
                for rank in 0..<ranks {
                    #expect(results[rank] == Self.contributions(rank: root, indices: partition.range(of: rank)))
                }
            }
        }
    }

    @Test("no rank leaves a barrier before every rank has entered it", arguments: [2, 3, 4])
    func barrier(ranks: Int) throws {
        let entered = Counter()
        let seen = try ThreadCommunicator.run(ranks: ranks) { communicator in
            entered.increment()
            try communicator.barrier()
            return entered.value
        }
        #expect(seen == Array(repeating: ranks, count: ranks))
    }

    @Test("the layout puts every rank on one host, in rank order", arguments: [1, 3])
    func layout(ranks: Int) throws {
        let layouts = try ThreadCommunicator.run(ranks: ranks) { $0.layout }
        for (rank, layout) in layouts.enumerated() {
            #expect(layout.rank == rank && layout.localRank == rank)
            #expect(layout.size == ranks && layout.localSize == ranks)
            #expect(layout.nodes.count == 1)
        }
    }

    // MARK: - Conveniences

    @Test("broadcast(bytes:), gathered strings and firstDisagreement", arguments: [1, 2, 3, 4])
    func conveniences(ranks: Int) throws {
        let texts = ["rank zero", "", "π ≈ 3.14159", "日本"]
        for root in 0..<ranks {
            let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                let rank = communicator.rank
                let bytes = try communicator.broadcast(bytes: Array(texts[rank].utf8), root: root)
                let strings = try communicator.gather(texts[rank], root: root)
                return (bytes, strings)
            }
            for (rank, result) in results.enumerated() {
                #expect(result.0 == Array(texts[root].utf8))
                #expect(result.1 == (rank == root ? Array(texts.prefix(ranks)) : nil))
            }
        }

        let agreement = try ThreadCommunicator.run(ranks: ranks) { communicator in
            var fingerprints: [Int64] = [11, 22, 33, 44]
            let same = try communicator.firstDisagreement(fingerprints)
            if communicator.rank == ranks - 1 { fingerprints[2] = -1 }
            if communicator.rank == 0 { fingerprints[3] = 0 }
            return [same, try communicator.firstDisagreement(fingerprints)]
        }
        #expect(agreement.allSatisfy { $0 == [nil, ranks == 1 ? nil : 2] })
    }

    // MARK: - Errors instead of hangs

    /// Calls that the shared argument checks reject, one of each kind.
    static let badCalls: [(String, @Sendable (any Communicator) throws -> Void)] = [
        ("allreduce over the 32-bit count limit", { communicator in
            // Only the count is looked at: the check must reject it before any element is read.
            var one: UInt8 = 0
            try withUnsafeMutablePointer(to: &one) {
                try communicator.allreduce(UnsafeMutableBufferPointer(start: $0, count: Int(Int32.max) + 1), operation: .sum)
            }
        }),
        ("reduceScatter with a partition for another group", { communicator in
            _ = try communicator.reduceScatter([Float](repeating: 0, count: 4), partition: Partition(counts: [2, 2]), operation: .sum)
        }),
        ("reduceScatter with a short send buffer", { communicator in
            _ = try communicator.reduceScatter([Float](repeating: 0, count: 3), partition: Partition(counts: [4]), operation: .sum)
        }),
        ("allgather into a short buffer", { communicator in
            var receive = [Int32](repeating: 0, count: 1)
            try [Int32(1), 2].withUnsafeBufferPointer { send in
                try receive.withUnsafeMutableBufferPointer { try communicator.allgather(send, into: $0) }
            }
        }),
        ("allgatherv with a long send buffer", { communicator in
            _ = try communicator.allgatherv([Float](repeating: 0, count: 5), partition: Partition(counts: [4]))
        }),
        ("allgatherv in place in a short buffer", { communicator in
            var buffer = [Float](repeating: 0, count: 3)
            try buffer.withUnsafeMutableBufferPointer { try communicator.allgatherv(inPlace: $0, partition: Partition(counts: [4])) }
        }),
        ("broadcast from a rank outside the group", { communicator in
            var values: [Double] = [1]
            try communicator.broadcast(&values, root: communicator.size)
        }),
        ("gather with no receive buffer on the root", { communicator in
            try [Int64(1)].withUnsafeBufferPointer { try communicator.gather($0, into: nil, root: 0) }
        }),
        ("gatherv into a short buffer", { communicator in
            var receive = [Float](repeating: 0, count: 2)
            try [Float](repeating: 0, count: 4).withUnsafeBufferPointer { send in
                try receive.withUnsafeMutableBufferPointer {
                    try communicator.gatherv(send, into: $0, partition: Partition(counts: [4]), root: 0)
                }
            }
        }),
        ("scatterv with no send buffer on the root", { communicator in
            _ = try communicator.scatterv([Float]?.none, partition: Partition(counts: [4]), root: 0)
        }),
        ("scatterv from a negative root", { communicator in
            _ = try communicator.scatterv([Float](repeating: 0, count: 4), partition: Partition(counts: [4]), root: -1)
        }),
    ]

    @Test("a one-rank group rejects exactly the calls the single-process communicator rejects, with the same error")
    func argumentChecks() throws {
        for (name, call) in Self.badCalls {
            let single = #expect(throws: CommunicatorError.self, "\(name)") { try call(SingleProcessCommunicator()) }
            let threaded = #expect(throws: CommunicatorError.self, "\(name)") {
                _ = try ThreadCommunicator.run(ranks: 1) { try call($0) }
            }
            #expect(single != nil && single == threaded, "\(name)")
        }
    }

    /// Per mismatch: the rank-dependent call and the message every rank must get.
    static let mismatches: [(String, @Sendable (any Communicator) throws -> Void)] = [
        ("ranks 0,2 called allreduce(sum) of 10 Float32; rank 1 called allreduce(sum) of 11 Float32", { communicator in
            var values = [Float](repeating: 1, count: communicator.rank == 1 ? 11 : 10)
            try communicator.allreduce(&values, operation: .sum)
        }),
        ("ranks 0,1 called allreduce(sum) of 4 Float64; rank 2 called allreduce(max) of 4 Float64", { communicator in
            var values = [Double](repeating: 1, count: 4)
            try communicator.allreduce(&values, operation: communicator.rank == 2 ? .max : .sum)
        }),
        ("rank 0 called allreduce(sum) of 4 Float32; ranks 1,2 called allreduce(sum) of 4 Float64", { communicator in
            if communicator.rank == 0 {
                var values = [Float](repeating: 1, count: 4)
                try communicator.allreduce(&values, operation: .sum)
            } else {
                var values = [Double](repeating: 1, count: 4)
                try communicator.allreduce(&values, operation: .sum)
            }
        }),
        ("rank 0 called barrier; ranks 1,2 called broadcast from rank 1 of 4 Float64", { communicator in
            if communicator.rank == 0 { return try communicator.barrier() }
            var values = [Double](repeating: 1, count: 4)
            try communicator.broadcast(&values, root: 1)
        }),
        ("ranks 0,2 called gather to rank 0 of 1 Int64 per rank; rank 1 called gather to rank 1 of 1 Int64 per rank", { communicator in
            _ = try communicator.gather([Int64(1)], root: communicator.rank % 2)
        }),
        ("ranks 0,1 called allgatherv of 6 Float32 split by partition", { communicator in
            let counts = communicator.rank == 2 ? [2, 2, 2] : [1, 2, 3]
            _ = try communicator.allgatherv([Float](repeating: 1, count: counts[communicator.rank]), partition: Partition(counts: counts))
        }),
    ]

    @Test("mismatched calls give every rank the same mismatch error, and the next collective works")
    func mismatches() throws {
        for (expected, call) in Self.mismatches {
            let outcomes = try ThreadCommunicator.run(ranks: 3) { communicator in
                var error: CommunicatorError?
                do { try call(communicator) } catch let caught as CommunicatorError { error = caught }
                return (error, try communicator.allreduce(Int64(communicator.rank + 1), operation: .sum))
            }
            guard case .mismatch(let message)? = outcomes[0].0 else {
                Issue.record("\(expected): rank 0 got \(String(describing: outcomes[0].0))")
                continue
            }
            #expect(message.hasPrefix(expected))
            #expect(outcomes.allSatisfy { $0.0 == .mismatch(message) && $0.1 == 6 })
        }
    }

    struct InjectedFailure: Error, Equatable {}

    @Test("a rank that throws or returns while the others wait in a collective makes their collective throw")
    func leavingRank() throws {
        let seen = Recorder()
        #expect(throws: InjectedFailure()) {
            _ = try ThreadCommunicator.run(ranks: 3) { communicator in
                if communicator.rank == 1 { throw InjectedFailure() }
                do { try communicator.barrier() } catch { seen.record(communicator.rank, error) }
            }
        }
        #expect(seen.messages.keys.sorted() == [0, 2])
        #expect(seen.messages.values.allSatisfy { $0.contains("rank 1 had thrown InjectedFailure()") })

        let errors = try ThreadCommunicator.run(ranks: 3) { communicator -> CommunicatorError? in
            if communicator.rank == 0 { return nil }
            do { try communicator.barrier() } catch let error as CommunicatorError { return error }
            return nil
        }
        #expect(errors[0] == nil)
        for error in errors.dropFirst() {
            guard case .mismatch(let message)? = error else { Issue.record("no mismatch: \(String(describing: error))"); continue }
            // Who else had left by then depends on timing (rank 1 may have returned after its own
            // error before rank 2 entered the barrier): the message must say that a rank had returned.
            #expect(message.contains("had returned") && message.contains("0"), "\(message)")
        }
    }

    @Test("abort ends the group: waiting ranks and later collectives throw .aborted, and so does run")
    func abort() throws {
        let seen = Recorder()
        #expect(throws: CommunicatorError.aborted(rank: 2, code: 7)) {
            _ = try ThreadCommunicator.run(ranks: 3) { communicator in
                try communicator.barrier()
                if communicator.rank == 2 { communicator.abort(code: 7) }
                do { try communicator.barrier() } catch { seen.record(communicator.rank, error) }
                do { _ = try communicator.allreduce(Int64(1), operation: .sum) } catch { seen.record(communicator.rank, error) }
            }
        }
        #expect(seen.messages == [0: "rank 2 aborted the job with status 7", 1: "rank 2 aborted the job with status 7"])
        #expect(seen.count == 4)
    }

    @Test("hundreds of repetitions: results, mismatches, failures and aborts come out the same every time")
    func repeated() throws {
        let partition = try Partition(counts: [3, 0, 2, 4])
        let expected = (0..<partition.total).map { Self.reduction(ranks: 4, index: $0, operation: .sum) }
        for _ in 0..<200 {
            let results = try ThreadCommunicator.run(ranks: 4) { communicator in
                let rank = communicator.rank
                let owned = try communicator.reduceScatter(
                    Self.contributions(rank: rank, indices: 0..<partition.total), partition: partition, operation: .sum)
                var all = [Float](repeating: .nan, count: partition.total)
                all.replaceSubrange(partition.range(of: rank), with: owned)
                try all.withUnsafeMutableBufferPointer { try communicator.allgatherv(inPlace: $0, partition: partition) }
                try communicator.barrier()
                let scattered = try communicator.scatterv(rank == 3 ? all : nil, partition: partition, root: 3)
                let gathered = try communicator.gatherv(scattered, partition: partition, root: 1)
                var broadcast = gathered ?? []
                var length = [Int64(broadcast.count)]
                try communicator.broadcast(&length, root: 1)
                broadcast = rank == 1 ? broadcast : [Float](repeating: 0, count: Int(length[0]))
                try communicator.broadcast(&broadcast, root: 1)
                return broadcast
            }
            #expect(results.allSatisfy { $0.map(\.bitPattern) == expected.map(\.bitPattern) })

            let (message, call) = Self.mismatches[0]
            let outcomes = try ThreadCommunicator.run(ranks: 3) { communicator -> CommunicatorError? in
                do { try call(communicator) } catch let error as CommunicatorError { return error }
                return nil
            }
            #expect(outcomes.allSatisfy { $0 == .mismatch(message) })

            #expect(throws: InjectedFailure()) {
                _ = try ThreadCommunicator.run(ranks: 3) { communicator in
                    if communicator.rank == 2 { throw InjectedFailure() }
                    try communicator.barrier()
                }
            }
            #expect(throws: CommunicatorError.aborted(rank: 0, code: 1)) {
                _ = try ThreadCommunicator.run(ranks: 2) { communicator in
                    if communicator.rank == 0 { communicator.abort(code: 1) }
                    try communicator.barrier()
                }
            }
        }
    }

    /// A count shared by the ranks of a test.
    final class Counter: Sendable {
        private let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
        func increment() { count.withLock { $0 += 1 } }
    }

    /// The errors ranks caught, by rank, as text.
    final class Recorder: Sendable {
        private let caught = Mutex<[(rank: Int, message: String)]>([])

        func record(_ rank: Int, _ error: any Error) {
            caught.withLock { $0.append((rank, "\(error)")) }
        }

        /// The last message of each rank.
        var messages: [Int: String] {
            caught.withLock { Dictionary($0.map { ($0.rank, $0.message) }, uniquingKeysWith: { $1 }) }
        }

        var count: Int { caught.withLock { $0.count } }
    }
}
