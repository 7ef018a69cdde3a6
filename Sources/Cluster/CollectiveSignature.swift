/// What one rank is about to do in a collective: which call, element type, operation or root,
/// element count and partition. Ranks compare signatures before each MPI collective, so a
/// mismatch (a bug that MPI turns into a hang or silent corruption) becomes a clear error.
struct CollectiveSignature: Equatable {
    enum Kind: Int64 {
        case allreduce = 1, reduceScatter, allgather, allgatherv, broadcast, gather, gatherv, barrier, scatterv
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
        var groups: [(description: String, ranks: [Int])] = []
        for rank in 0..<ranks {
            let text = decode(gathered, at: rank * encodedCount)?.description ?? "an unknown collective"
            if let index = groups.firstIndex(where: { $0.description == text }) {
                groups[index].ranks.append(rank)
            } else {
                groups.append((text, [rank]))
            }
        }
        return groups.map { group in
            let who = group.ranks.count == 1
                ? "rank \(group.ranks[0])"
                : "ranks " + group.ranks.map(String.init).joined(separator: ",")
            return "\(who) called \(group.description)"
        }.joined(separator: "; ")
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
        }
    }
}
