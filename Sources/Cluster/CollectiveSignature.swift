/// What one rank is about to do in a collective: which call, element type, operation or root,
/// element count and partition. Ranks compare signatures before each MPI collective, so a
/// mismatch (a bug that MPI turns into a hang or silent corruption) becomes a clear error.
struct CollectiveSignature: Equatable {
    enum Kind: Int64 {
        case allreduce = 1, reduceScatter, allgather, allgatherv, broadcast, gather, gatherv, barrier, scatterv, alltoallv
    }

    static let encodedCount = 5

    var kind: Kind
    var elementType: ElementType?
    /// The reduction operation's raw value, or the root for rooted collectives, else 0.
    var operationOrRoot: Int64 = 0
    /// Elements this rank contributes (or the partition total for partitioned collectives).
    var count: Int64 = 0
    /// The partition fingerprint for partitioned collectives, else 0.
    var partitionFingerprint: Int64 = 0

    /// Writes the signature as `encodedCount` integers.
    func encode(into buffer: UnsafeMutableBufferPointer<Int64>, at offset: Int) {
        buffer[offset] = kind.rawValue
        buffer[offset + 1] = elementType?.rawValue ?? 0
        buffer[offset + 2] = operationOrRoot
        buffer[offset + 3] = count
        buffer[offset + 4] = partitionFingerprint
    }

    /// Reads a signature written by `encode`; nil if the integers are not one.
    static func decode(_ buffer: UnsafeBufferPointer<Int64>, at offset: Int) -> CollectiveSignature? {
        guard let kind = Kind(rawValue: buffer[offset]) else { return nil }
        return CollectiveSignature(
            kind: kind, elementType: ElementType(rawValue: buffer[offset + 1]),
            operationOrRoot: buffer[offset + 2], count: buffer[offset + 3],
            partitionFingerprint: buffer[offset + 4])
    }

    /// Whether all signatures in `gathered` (one per rank) equal rank `rank`'s.
    static func allAgree(_ gathered: UnsafeBufferPointer<Int64>, ranks: Int) -> Bool {
        for rank in 1..<ranks {
            for field in 0..<encodedCount where gathered[rank * encodedCount + field] != gathered[field] {
                return false
            }
        }
        return true
    }

    /// A description of who called what, grouping ranks that agree, e.g.
    /// "rank 0 called allreduce(sum) of 10 Float32; rank 1 called allreduce(sum) of 12 Float32".
    static func describeDisagreement(_ gathered: UnsafeBufferPointer<Int64>, ranks: Int) -> String {
        describe(actions: (0..<ranks).map { rank in
            (rank, "called " + (decode(gathered, at: rank * encodedCount)?.description ?? "an unknown collective"))
        })
    }

    /// One clause per distinct action, in order of the first rank that took it, naming the ranks
    /// that took it: "ranks 0,2 called barrier; rank 1 called broadcast from rank 1 of 4 Float64".
    static func describe(actions: [(rank: Int, action: String)]) -> String {
        var groups: [(action: String, ranks: [Int])] = []
        for (rank, action) in actions {
            if let index = groups.firstIndex(where: { $0.action == action }) {
                groups[index].ranks.append(rank)
            } else {
                groups.append((action, [rank]))
            }
        }
        return groups.map { group in
            let who = group.ranks.count == 1
                ? "rank \(group.ranks[0])"
                : "ranks " + group.ranks.map(String.init).joined(separator: ",")
            return "\(who) \(group.action)"
        }.joined(separator: "; ")
    }
}

// MARK: - The signature of each collective

/// What each `Communicator` collective compares across ranks, in one place for every implementation.
extension CollectiveSignature {
    static func allreduce<Element: CollectiveElement>(
        _: Element.Type, count: Int, operation: ReductionOperation
    ) -> CollectiveSignature {
        CollectiveSignature(
            kind: .allreduce, elementType: Element.elementType, operationOrRoot: operation.rawValue,
            count: Int64(count))
    }

    static func reduceScatter<Element: CollectiveElement>(
        _: Element.Type, partition: Partition, operation: ReductionOperation
    ) -> CollectiveSignature {
        partitioned(.reduceScatter, Element.self, partition, operationOrRoot: operation.rawValue)
    }

    /// `count` is the elements each rank sends.
    static func allgather<Element: CollectiveElement>(_: Element.Type, count: Int) -> CollectiveSignature {
        CollectiveSignature(kind: .allgather, elementType: Element.elementType, count: Int64(count))
    }

    static func allgatherv<Element: CollectiveElement>(_: Element.Type, partition: Partition) -> CollectiveSignature {
        partitioned(.allgatherv, Element.self, partition)
    }

    static func broadcast<Element: CollectiveElement>(_: Element.Type, count: Int, root: Int) -> CollectiveSignature {
        CollectiveSignature(
            kind: .broadcast, elementType: Element.elementType, operationOrRoot: Int64(root), count: Int64(count))
    }

    /// `count` is the elements each rank sends.
    static func gather<Element: CollectiveElement>(_: Element.Type, count: Int, root: Int) -> CollectiveSignature {
        CollectiveSignature(
            kind: .gather, elementType: Element.elementType, operationOrRoot: Int64(root), count: Int64(count))
    }

    static func gatherv<Element: CollectiveElement>(_: Element.Type, partition: Partition, root: Int) -> CollectiveSignature {
        partitioned(.gatherv, Element.self, partition, operationOrRoot: Int64(root))
    }

    static func scatterv<Element: CollectiveElement>(_: Element.Type, partition: Partition, root: Int) -> CollectiveSignature {
        partitioned(.scatterv, Element.self, partition, operationOrRoot: Int64(root))
    }

    static func alltoallv<Element: CollectiveElement>(_: Element.Type, partition: Partition) -> CollectiveSignature {
        partitioned(.alltoallv, Element.self, partition)
    }

    static var barrier: CollectiveSignature { CollectiveSignature(kind: .barrier) }

    /// A collective over a partition: its total and fingerprint stand for the counts.
    private static func partitioned<Element: CollectiveElement>(
        _ kind: Kind, _: Element.Type, _ partition: Partition, operationOrRoot: Int64 = 0
    ) -> CollectiveSignature {
        CollectiveSignature(
            kind: kind, elementType: Element.elementType, operationOrRoot: operationOrRoot,
            count: Int64(partition.total), partitionFingerprint: partition.fingerprint)
    }
}

extension CollectiveSignature: CustomStringConvertible {
    var description: String {
        let type = elementType.map { " \($0)" } ?? ""
        let operation = ReductionOperation(rawValue: operationOrRoot).map(\.description) ?? "?"
        let split = partitionFingerprint == 0 ? "" : " split by partition #\(String(UInt64(bitPattern: partitionFingerprint) % 0xFFFF, radix: 16))"
        switch kind {
        case .allreduce: return "allreduce(\(operation)) of \(count)\(type)"
        case .reduceScatter: return "reduceScatter(\(operation)) of \(count)\(type)\(split)"
        case .allgather: return "allgather of \(count)\(type) per rank"
        case .allgatherv: return "allgatherv of \(count)\(type)\(split)"
        case .broadcast: return "broadcast from rank \(operationOrRoot) of \(count)\(type)"
        case .gather: return "gather to rank \(operationOrRoot) of \(count)\(type) per rank"
        case .gatherv: return "gatherv to rank \(operationOrRoot) of \(count)\(type)\(split)"
        case .barrier: return "barrier"
        case .scatterv: return "scatterv from rank \(operationOrRoot) of \(count)\(type)\(split)"
        case .alltoallv: return "alltoallv of \(count)\(type)\(split)"
        }
    }
}
