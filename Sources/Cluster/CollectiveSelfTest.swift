/// Runs every collective of `Communicator` with known data on all ranks and checks each result
/// exactly (the non-blocking ones several at once, with the MPI progress thread on): a job-start
/// check that the MPI installation, the network between hosts and the bindings agree
/// (`spectrain selftest`), and the body of the multi-process tests.
///
/// Values are small integers, exact in every element type, so sums do not depend on the
/// reduction order and every comparison is equality.
package enum CollectiveSelfTest {
    /// The outcome on this rank.
    package struct Outcome: Sendable {
        /// Checks run on this rank.
        package var checks = 0
        /// A line per failed check on this rank.
        package var failures: [String] = []
        /// Failed checks summed over all ranks.
        package var failuresOnAllRanks = 0
    }

    /// Per-rank element counts for the uneven collectives: one rank gets zero elements when there
    /// are three or more, to cover the empty-segment case.
    package static func unevenCounts(ranks: Int) -> [Int] {
        (0..<ranks).map { [3, 5, 0, 2][$0 % 4] + $0 / 4 }
    }

    /// The value rank `rank` contributes at `index`.
    static func value<Element: CollectiveElement>(rank: Int, index: Int) -> Element {
        Element(exactly: (rank + 1) * (index % 13 + 1))!
    }

    /// Runs all checks; `largeCount` sizes one big allreduce (to cross MPI's eager/rendezvous
    /// protocol switch). Every rank must call this at the same time.
    package static func run(on communicator: any Communicator, largeCount: Int = 1 << 20 + 3) throws -> Outcome {
        let checker = Checker(communicator: communicator, partition: try Partition(counts: unevenCounts(ranks: communicator.size)))
        try checker.reductions(largeCount: largeCount)
        try checker.gathers()
        try checker.rootedCollectives()
        try checker.nonBlocking(largeCount: largeCount)
        try communicator.barrier()
        checker.outcome.failuresOnAllRanks = Int(try communicator.allreduce(Int64(checker.outcome.failures.count), operation: .sum))
        return checker.outcome
    }

    /// The checks of one rank, in the order every rank issues the collectives.
    private final class Checker {
        let communicator: any Communicator
        /// Uneven per-rank counts for the collectives over a partition.
        let partition: Partition
        var outcome = Outcome()

        init(communicator: any Communicator, partition: Partition) {
            self.communicator = communicator
            self.partition = partition
        }

        var rank: Int { communicator.rank }
        var size: Int { communicator.size }
        /// The sum 1 + 2 + ... + size: a reduction's factor over the ranks' values.
        var triangular: Int { size * (size + 1) / 2 }
        /// The values this rank holds in the partition, and every rank's, concatenated.
        var owned: [Float] { partition.range(of: rank).map { value(rank: rank, index: $0) } }
        /// This rank's segment of every rank's values, in rank order (what an alltoallv delivers).
        var everyRanksSegment: [Float] { (0..<size).flatMap { r in partition.range(of: rank).map { value(rank: r, index: $0) } } }
        var everyRanksOwned: [Float] { (0..<size).flatMap { r in partition.range(of: r).map { value(rank: r, index: $0) } } }

        func expect(_ condition: Bool, _ what: @autoclosure () -> String) {
            outcome.checks += 1
            if !condition { outcome.failures.append("rank \(rank): \(what())") }
        }

        /// allreduce (sum, max, min) in every element type and once large; reduceScatter.
        func reductions(largeCount: Int) throws {
            try allreduce(Float.self, count: 1007)
            try allreduce(Double.self, count: 33)
            try allreduce(Int32.self, count: 17)
            try allreduce(Int64.self, count: 5)
            var large = [Float](repeating: 1, count: largeCount)
            try communicator.allreduce(&large, operation: .sum)
            expect(large.allSatisfy { $0 == Float(size) }, "allreduce(sum) of \(largeCount) Float32")
            let full: [Float] = (0..<partition.total).map { value(rank: rank, index: $0) }
            let segment = try communicator.reduceScatter(full, partition: partition, operation: .sum)
            let expectedSegment = partition.range(of: rank).map { Float(triangular * ($0 % 13 + 1)) }
            expect(segment == expectedSegment, "reduceScatter(sum) with counts \(partition.counts)")
        }

        private func allreduce<Element: CollectiveElement>(_: Element.Type, count: Int) throws {
            for operation in [ReductionOperation.sum, .max, .min] {
                var values: [Element] = (0..<count).map { value(rank: rank, index: $0) }
                try communicator.allreduce(&values, operation: operation)
                let factor = operation == .sum ? triangular : operation == .max ? size : 1
                let correct = values.indices.allSatisfy { values[$0] == Element(exactly: factor * ($0 % 13 + 1))! }
                expect(correct, "allreduce(\(operation)) of \(count) \(Element.elementType)")
            }
        }

        /// allgather, allgatherv and allgatherv in place: rank r's segment holds what rank r owns.
        func gathers() throws {
            let rank = self.rank
            let gathered = try communicator.allgather((0..<4).map { Int32(rank * 10 + $0) })
            expect(gathered == (0..<size).flatMap { r in (0..<4).map { Int32(r * 10 + $0) } }, "allgather of 4 Int32")
            expect(try communicator.allgatherv(owned, partition: partition) == everyRanksOwned,
                   "allgatherv with counts \(partition.counts)")
            var inPlace = [Float](repeating: -1, count: partition.total)
            for index in partition.range(of: rank) { inPlace[index] = value(rank: rank, index: index) }
            try inPlace.withUnsafeMutableBufferPointer { try communicator.allgatherv(inPlace: $0, partition: partition) }
            expect(inPlace == everyRanksOwned, "allgatherv in place with counts \(partition.counts)")
            let transposed = try [Float](unsafeUninitializedCapacity: size * partition.counts[rank]) { receive, initialized in
                let send = (0..<partition.total).map { value(rank: rank, index: $0) as Float }
                try send.withUnsafeBufferPointer { try communicator.alltoallv($0, into: receive, partition: partition) }
                initialized = receive.count
            }
            expect(transposed == everyRanksSegment, "alltoallv with counts \(partition.counts)")
        }

        /// startReduceScatter (into a buffer and in place), startAllgatherv and startAllreduce in flight together while the
        /// rank computes, waited for in the reverse order of their starts.
        func nonBlocking(largeCount: Int) throws {
            let mpi = communicator as? MPICommunicator
            let previous = mpi?.progressInterval
            mpi?.progressInterval = .microseconds(100)
            defer { mpi?.progressInterval = previous }
            let spread = try Partition.even(total: largeCount, ranks: size)
            // Buffers the collectives own until their waits: allocated here, not Swift arrays.
            func buffer<Element>(_ values: [Element]) -> UnsafeMutableBufferPointer<Element> {
                let buffer = UnsafeMutableBufferPointer<Element>.allocate(capacity: values.count)
                _ = buffer.initialize(from: values)
                return buffer
            }
            let full = buffer((0..<spread.total).map { value(rank: rank, index: $0) as Float })
            let reduced = buffer([Float](repeating: -1, count: spread.counts[rank]))
            let uneven = buffer((0..<partition.total).map { value(rank: rank, index: $0) as Float })
            let unevenSegment = buffer([Float](repeating: -1, count: partition.counts[rank]))
            let inPlace = buffer((0..<partition.total).map { value(rank: rank, index: $0) as Float })
            let gathered = buffer((0..<partition.total).map { partition.range(of: rank).contains($0) ? value(rank: rank, index: $0) : Float(-1) })
            let summed = buffer((0..<1000).map { value(rank: rank, index: $0) as Double })
            let transposeSource = buffer((0..<partition.total).map { value(rank: rank, index: $0) as Float })
            let transposed = buffer([Float](repeating: -1, count: size * partition.counts[rank]))
            defer {
                for pointer in [full, reduced, uneven, unevenSegment, inPlace, gathered, transposeSource, transposed] { pointer.deallocate() }
                summed.deallocate()
            }
            let requests = [
                try communicator.startReduceScatter(full, into: reduced, partition: spread, operation: .sum),
                try communicator.startReduceScatter(uneven, into: unevenSegment, partition: partition, operation: .sum),
                try communicator.startReduceScatter(inPlace: inPlace, partition: partition, operation: .sum),
                try communicator.startAllgatherv(inPlace: gathered, partition: partition),
                try communicator.startAllreduce(summed, operation: .sum),
                try communicator.startAlltoallv(UnsafeBufferPointer(transposeSource), into: transposed, partition: partition),
            ]
            var work = 0.0
            for step in 0..<2_000_000 { work += Double(step & 7) }
            expect(work == 7_000_000, "computation while collectives are in flight")
            for request in requests.reversed() { _ = try communicator.wait(for: request) }
            let sums = { (range: Range<Int>) in range.map { Float(self.triangular * ($0 % 13 + 1)) } }
            expect(Array(reduced) == sums(spread.range(of: rank)), "startReduceScatter(sum) of \(largeCount) Float32, with others in flight")
            expect(Array(unevenSegment) == sums(partition.range(of: rank)),
                   "startReduceScatter(sum) with counts \(partition.counts), with others in flight")
            expect(Array(inPlace[partition.range(of: rank)]) == sums(partition.range(of: rank)),
                   "startReduceScatter(inPlace:, sum) with counts \(partition.counts), with others in flight")
            expect(Array(gathered) == everyRanksOwned, "startAllgatherv in place with counts \(partition.counts), with others in flight")
            expect(Array(summed) == (0..<1000).map { Double(triangular * ($0 % 13 + 1)) }, "startAllreduce(sum) of 1000 Float64, with others in flight")
            expect(Array(transposed) == everyRanksSegment, "startAlltoallv with counts \(partition.counts), with others in flight")
        }

        /// broadcast from every root, gather, gatherv and scatterv.
        func rootedCollectives() throws {
            let rank = self.rank
            for root in 0..<size {
                var values: [Double] = (0..<33).map { value(rank: rank, index: $0) }
                try communicator.broadcast(&values, root: root)
                expect(values == (0..<33).map { value(rank: root, index: $0) }, "broadcast from rank \(root)")
            }
            let lastRank = size - 1
            let gatheredAtLast = try communicator.gather([Int64(rank), Int64(rank * rank)], root: lastRank)
            if rank == lastRank {
                expect(gatheredAtLast == (0..<size).flatMap { [Int64($0), Int64($0 * $0)] }, "gather to rank \(lastRank)")
            } else {
                expect(gatheredAtLast == nil, "gather result only on the root")
            }
            let gatheredV = try communicator.gatherv(owned, partition: partition, root: 0)
            if rank == 0 {
                expect(gatheredV == everyRanksOwned, "gatherv to rank 0 with counts \(partition.counts)")
            }
            let scatterRoot = size / 2
            let whole: [Float]? = rank == scatterRoot ? (0..<partition.total).map { value(rank: scatterRoot, index: $0) } : nil
            let scattered = try communicator.scatterv(whole, partition: partition, root: scatterRoot)
            expect(scattered == partition.range(of: rank).map { value(rank: scatterRoot, index: $0) },
                   "scatterv from rank \(scatterRoot) with counts \(partition.counts)")
        }
    }
}
