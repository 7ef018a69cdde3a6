/// The collectives a data-parallel job needs, over one group of ranks.
///
/// Three implementations: `MPICommunicator` (one process per rank, launched by mpirun),
/// `SingleProcessCommunicator` (a job of one rank, where every collective is a copy or nothing)
/// and `ThreadCommunicator` (ranks as threads of one process, for tests).
/// Every rank must issue the same collectives in the same order; the MPI and thread
/// implementations check that and report a mismatch as an error on every rank instead of
/// hanging or corrupting data.
///
/// Buffers are caller-owned: hot loops keep them (and their `Partition`s) across steps, so a
/// collective does not allocate.
package protocol Communicator: AnyObject {
    /// This process's rank, `0..<size`.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }
    /// Hosts of all ranks and this rank's place on its node.
    var layout: RankLayout { get }

    /// Reduces `buffer` elementwise across ranks in place; every rank receives the result.
    func allreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation) throws

    /// Reduces `send` (length `partition.total`) across ranks and leaves segment `rank` of the
    /// result in `receive` (length `partition.counts[rank]`).
    func reduceScatter<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation) throws

    /// Concatenates every rank's `send` (the same length on all ranks) in rank order into `receive`.
    func allgather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>) throws

    /// Concatenates every rank's `send` (length `partition.counts[rank]`) into `receive`
    /// (length `partition.total`) at the partition's offsets.
    func allgatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition) throws

    /// Like `allgatherv(_:into:partition:)` where each rank's segment is already in place in
    /// `buffer`: afterwards every rank holds every segment.
    func allgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition) throws

    /// Copies `buffer` of rank `root` into `buffer` of every rank.
    func broadcast<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, root: Int) throws

    /// Concatenates every rank's `send` (same length everywhere) into `receive` on `root`;
    /// `receive` is ignored (may be nil) on the other ranks.
    func gather<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        root: Int) throws

    /// Concatenates every rank's `send` (length `partition.counts[rank]`) into `receive` on
    /// `root` at the partition's offsets; `receive` is ignored on the other ranks.
    func gatherv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>?,
        partition: Partition, root: Int) throws

    /// Sends segment r of `send` on `root` (length `partition.total`; ignored elsewhere, may be
    /// nil) to rank r's `receive` (length `partition.counts[r]`).
    func scatterv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>?, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, root: Int) throws

    /// The transpose of segments: every rank's `send` (length `partition.total`) is cut by
    /// `partition`, and segment r goes to rank r, so that afterwards this rank's `receive` (length
    /// `size * partition.counts[rank]`) holds its segment of rank 0's send, then of rank 1's, ...
    /// (`MPI_Alltoallv` with one partition for all ranks). A reduction whose sums the owner forms
    /// itself (in another precision than the wire's) is this plus a local sum.
    func alltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition) throws

    /// Returns when every rank has called it.
    func barrier() throws

    // Non-blocking forms (see `CollectiveRequest`). Every rank starts the same collectives in the
    // same order, as for the blocking ones; unlike those, a start is not preceded by the
    // signature check (it would make every start wait for the slowest rank): callers check their
    // schedule of starts once (`GradientExchange` does).

    /// Starts `allreduce(_:operation:)`.
    func startAllreduce<Element: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<Element>, operation: ReductionOperation) throws -> CollectiveRequest

    /// Starts `reduceScatter(_:into:partition:operation:)`. The send buffer is the collective's
    /// until the wait, which may leave partial sums in it.
    func startReduceScatter<Element: CollectiveElement>(
        _ send: UnsafeMutableBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition, operation: ReductionOperation) throws -> CollectiveRequest

    /// Starts a reduce-scatter in place: when it completes, this rank's segment of `buffer` (its
    /// `partition` range) holds the reduction over the ranks of that segment, and the other
    /// segments hold partial results. No receive buffer and no copies: a caller whose data already
    /// sits in segment order (`GradientExchange`'s direct buckets) reduces it where it lies.
    func startReduceScatter<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition, operation: ReductionOperation) throws -> CollectiveRequest

    /// Starts `alltoallv(_:into:partition:)`; `partition` must live until the wait (MPI reads its counts).
    func startAlltoallv<Element: CollectiveElement>(
        _ send: UnsafeBufferPointer<Element>, into receive: UnsafeMutableBufferPointer<Element>,
        partition: Partition) throws -> CollectiveRequest

    /// Starts `allgatherv(inPlace:partition:)`.
    func startAllgatherv<Element: CollectiveElement>(
        inPlace buffer: UnsafeMutableBufferPointer<Element>, partition: Partition) throws -> CollectiveRequest

    /// Returns when the started collective has completed on this rank; its buffers are the
    /// caller's again.
    func wait(for request: CollectiveRequest) throws -> CollectiveCompletion

    /// Ends every rank of the job with exit status `code` (a `ThreadCommunicator` ends its group of
    /// threads instead of the process).
    func abort(code: Int32) -> Never
}

// MARK: - Argument checks shared by the implementations

/// Each collective's local argument checks, shared so that every implementation rejects exactly
/// the same calls (code that passes on one process also passes under mpirun).
extension Communicator {
    func checkRoot(_ root: Int, _ call: String) throws(CommunicatorError) {
        guard root >= 0 && root < size else {
            throw .invalidArgument("\(call): root \(root) outside 0..<\(size)")
        }
    }

    func checkPartition(_ partition: Partition, _ call: String) throws(CommunicatorError) {
        guard partition.counts.count == size else {
            throw .invalidArgument("\(call): partition has \(partition.counts.count) ranks, the job has \(size)")
        }
    }

    func checkCount(_ actual: Int, expected: Int, _ what: String, _ call: String) throws(CommunicatorError) {
        guard actual == expected else {
            throw .invalidArgument("\(call): \(what) holds \(actual) elements, expected \(expected)")
        }
    }

    func checkFits(_ count: Int, _ call: String) throws(CommunicatorError) {
        guard count <= Int(Int32.max) else {
            throw .invalidArgument("\(call): \(count) elements exceed MPI's 32-bit count limit")
        }
    }

    func checkAllreduce(count: Int) throws(CommunicatorError) {
        try checkFits(count, "allreduce")
    }

    func checkReduceScatter(sendCount: Int, receiveCount: Int, partition: Partition) throws(CommunicatorError) {
        try checkPartition(partition, "reduceScatter")
        try checkCount(sendCount, expected: partition.total, "send buffer", "reduceScatter")
        try checkCount(receiveCount, expected: partition.counts[rank], "receive buffer", "reduceScatter")
    }

    func checkAllgather(sendCount: Int, receiveCount: Int) throws(CommunicatorError) {
        try checkFits(receiveCount, "allgather")
        try checkCount(receiveCount, expected: sendCount * size, "receive buffer", "allgather")
    }

    /// `sendCount` nil: the in-place form, where the buffer is the receive buffer.
    func checkAllgatherv(sendCount: Int?, receiveCount: Int, partition: Partition) throws(CommunicatorError) {
        try checkPartition(partition, "allgatherv")
        if let sendCount {
            try checkCount(sendCount, expected: partition.counts[rank], "send buffer", "allgatherv")
            try checkCount(receiveCount, expected: partition.total, "receive buffer", "allgatherv")
        } else {
            try checkCount(receiveCount, expected: partition.total, "buffer", "allgatherv")
        }
    }

    func checkAlltoallv(sendCount: Int, receiveCount: Int, partition: Partition) throws(CommunicatorError) {
        try checkPartition(partition, "alltoallv")
        try checkCount(sendCount, expected: partition.total, "send buffer", "alltoallv")
        let (expected, overflow) = partition.counts[rank].multipliedReportingOverflow(by: size)
        guard !overflow, expected <= Int(Int32.max) else {
            throw .invalidArgument("alltoallv: \(size) x \(partition.counts[rank]) received elements exceed MPI's 32-bit count limit")
        }
        try checkCount(receiveCount, expected: expected, "receive buffer", "alltoallv")
    }

    func checkBroadcast(count: Int, root: Int) throws(CommunicatorError) {
        try checkRoot(root, "broadcast")
        try checkFits(count, "broadcast")
    }

    /// `receiveCount` is the root's receive buffer length (nil: no buffer); ignored elsewhere.
    func checkGather(sendCount: Int, receiveCount: Int?, root: Int) throws(CommunicatorError) {
        try checkRoot(root, "gather")
        try checkFits(sendCount * size, "gather")
        guard rank == root else { return }
        guard let receiveCount else { throw .invalidArgument("gather: the root needs a receive buffer") }
        try checkCount(receiveCount, expected: sendCount * size, "receive buffer", "gather")
    }

    /// `sendCount` is the root's send buffer length (nil: no buffer); ignored elsewhere.
    func checkScatterv(sendCount: Int?, receiveCount: Int, partition: Partition, root: Int) throws(CommunicatorError) {
        try checkRootedVariable(
            "scatterv", everyRank: (receiveCount, "receive buffer"), atRoot: (sendCount, "send buffer"), partition: partition, root: root)
    }

    /// `receiveCount` is the root's receive buffer length (nil: no buffer); ignored elsewhere.
    func checkGatherv(sendCount: Int, receiveCount: Int?, partition: Partition, root: Int) throws(CommunicatorError) {
        try checkRootedVariable(
            "gatherv", everyRank: (sendCount, "send buffer"), atRoot: (receiveCount, "receive buffer"), partition: partition, root: root)
    }

    /// The checks of a rooted collective over a partition (scatterv, gatherv): every rank's own
    /// buffer holds its segment, and the root's other buffer (nil: none given) the whole partition.
    private func checkRootedVariable(
        _ call: String, everyRank own: (count: Int, name: String), atRoot whole: (count: Int?, name: String),
        partition: Partition, root: Int
    ) throws(CommunicatorError) {
        try checkRoot(root, call)
        try checkPartition(partition, call)
        try checkCount(own.count, expected: partition.counts[rank], own.name, call)
        guard rank == root else { return }
        guard let count = whole.count else { throw .invalidArgument("\(call): the root needs a \(whole.name)") }
        try checkCount(count, expected: partition.total, whole.name, call)
    }
}

// MARK: - Array conveniences (set-up code and tests; hot loops pass their own buffers)

extension Communicator {
    /// Reduces `values` across ranks in place.
    package func allreduce<Element: CollectiveElement>(
        _ values: inout [Element], operation: ReductionOperation
    ) throws {
        try values.withUnsafeMutableBufferPointer { try allreduce($0, operation: operation) }
    }

    /// The reduction of one value across ranks.
    package func allreduce<Element: CollectiveElement>(
        _ value: Element, operation: ReductionOperation
    ) throws -> Element {
        var values = [value]
        try allreduce(&values, operation: operation)
        return values[0]
    }

    /// Every rank's `value`, in rank order.
    package func allgather<Element: CollectiveElement>(_ value: Element) throws -> [Element] {
        try allgather([value])
    }

    /// Every rank's `values` (same length everywhere), concatenated in rank order.
    package func allgather<Element: CollectiveElement>(_ values: [Element]) throws -> [Element] {
        var result = [Element](repeating: Element.zero, count: values.count * size)
        try values.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { try allgather(send, into: $0) }
        }
        return result
    }

    /// Every rank's `values` (length `partition.counts[rank]`), concatenated.
    package func allgatherv<Element: CollectiveElement>(
        _ values: [Element], partition: Partition
    ) throws -> [Element] {
        var result = [Element](repeating: .zero, count: partition.total)
        try values.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { try allgatherv(send, into: $0, partition: partition) }
        }
        return result
    }

    /// This rank's segment of the reduction of `values` across ranks.
    package func reduceScatter<Element: CollectiveElement>(
        _ values: [Element], partition: Partition, operation: ReductionOperation
    ) throws -> [Element] {
        try checkPartition(partition, "reduceScatter")
        var result = [Element](repeating: .zero, count: partition.counts[rank])
        try values.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer {
                try reduceScatter(send, into: $0, partition: partition, operation: operation)
            }
        }
        return result
    }

    /// Replaces `values` by rank `root`'s `values`; the length must already agree on all ranks.
    package func broadcast<Element: CollectiveElement>(_ values: inout [Element], root: Int) throws {
        try values.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// All ranks' `values` concatenated on `root`; nil elsewhere.
    package func gather<Element: CollectiveElement>(_ values: [Element], root: Int) throws -> [Element]? {
        if rank == root {
            var result = [Element](repeating: .zero, count: values.count * size)
            try values.withUnsafeBufferPointer { send in
                try result.withUnsafeMutableBufferPointer { try gather(send, into: $0, root: root) }
            }
            return result
        }
        try values.withUnsafeBufferPointer { try gather($0, into: nil, root: root) }
        return nil
    }

    /// This rank's segment of `values` on `root` (which alone passes `values`).
    package func scatterv<Element: CollectiveElement>(
        _ values: [Element]?, partition: Partition, root: Int
    ) throws -> [Element] {
        try checkPartition(partition, "scatterv")
        var result = [Element](repeating: .zero, count: partition.counts[rank])
        try result.withUnsafeMutableBufferPointer { receive in
            if let values {
                try values.withUnsafeBufferPointer { try scatterv($0, into: receive, partition: partition, root: root) }
            } else {
                try scatterv(nil, into: receive, partition: partition, root: root)
            }
        }
        return result
    }

    /// All ranks' `values` (length `partition.counts[rank]`) concatenated on `root`; nil elsewhere.
    package func gatherv<Element: CollectiveElement>(
        _ values: [Element], partition: Partition, root: Int
    ) throws -> [Element]? {
        if rank == root {
            var result = [Element](repeating: .zero, count: partition.total)
            try values.withUnsafeBufferPointer { send in
                try result.withUnsafeMutableBufferPointer { try gatherv(send, into: $0, partition: partition, root: root) }
            }
            return result
        }
        try values.withUnsafeBufferPointer { try gatherv($0, into: nil, partition: partition, root: root) }
        return nil
    }
}

extension Communicator {
    /// `root`'s `bytes`, of any length, on every rank (the length goes first; the other ranks'
    /// `bytes` are ignored).
    package func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var length = [Int64(bytes.count)]
        try broadcast(&length, root: root)
        var received = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
        try broadcast(&received, root: root)
        return received
    }

    /// Every rank's `text`, in rank order, on `root`; nil on the other ranks.
    package func gather(_ text: String, root: Int) throws -> [String]? {
        let bytes = Array(text.utf8)
        let lengths = try allgather(Int64(bytes.count))
        let partition = try Partition(counts: lengths.map { Int($0) })
        guard let all = try gatherv(bytes, partition: partition, root: root) else { return nil }
        return (0..<size).map { String(decoding: all[partition.range(of: $0)], as: UTF8.self) }
    }
}
