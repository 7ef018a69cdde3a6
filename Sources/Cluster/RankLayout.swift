import Foundation

/// Where the ranks of a job run: each rank's host, and this rank's place among the ranks on its
/// node (which decides its share of the node's cores).
package struct RankLayout: Sendable, Equatable {
    /// This process's rank.
    package let rank: Int
    /// The host name of every rank, indexed by rank.
    package let hostnames: [String]
    /// This rank's index among the ranks on its node.
    package let localRank: Int
    /// How many ranks run on this rank's node.
    package let localSize: Int

    package init(rank: Int, hostnames: [String], localRank: Int, localSize: Int) {
        self.rank = rank
        self.hostnames = hostnames
        self.localRank = localRank
        self.localSize = localSize
    }

    /// `size` ranks all on this process's host, this one being `rank`: the layout of a job that
    /// never leaves the process.
    package static func thisHost(rank: Int, size: Int) -> RankLayout {
        let hostname = ProcessInfo.processInfo.hostName
        return RankLayout(
            rank: rank, hostnames: Array(repeating: hostname, count: size), localRank: rank, localSize: size)
    }

    /// Number of ranks in the job.
    package var size: Int { hostnames.count }

    /// The nodes in order of their first rank, each with its ranks.
    package var nodes: [(host: String, ranks: [Int])] {
        var order: [String] = []
        var ranksByHost: [String: [Int]] = [:]
        for (rank, host) in hostnames.enumerated() {
            if ranksByHost[host] == nil { order.append(host) }
            ranksByHost[host, default: []].append(rank)
        }
        return order.map { ($0, ranksByHost[$0]!) }
    }
}
