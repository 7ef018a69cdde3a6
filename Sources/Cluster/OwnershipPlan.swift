/// Which rank owns each item (a layer's parameter tensor and its optimizer state): a pure function
/// of the items' costs and the number of ranks, so every rank computes the same plan.
///
/// Greedy longest-processing-time: items in decreasing cost (ties by index) each go to the rank
/// with the least load so far (ties to the lowest rank). Its makespan is at most 4/3 of optimal.
package struct OwnershipPlan: Sendable, Equatable {
    /// The owning rank of each item.
    package let owners: [Int]
    /// The cost of each item, as planned.
    package let costs: [Double]
    /// The total cost on each rank.
    package let loads: [Double]

    package init(owners: [Int], costs: [Double], ranks: Int) {
        precondition(owners.count == costs.count, "OwnershipPlan: \(owners.count) owners for \(costs.count) items")
        precondition(owners.allSatisfy { $0 >= 0 && $0 < ranks }, "OwnershipPlan: an owner outside 0..<\(ranks)")
        self.owners = owners
        self.costs = costs
        var loads = [Double](repeating: 0, count: ranks)
        for (item, owner) in owners.enumerated() { loads[owner] += costs[item] }
        self.loads = loads
    }

    /// The greedy longest-processing-time plan of `costs` over `ranks`.
    package static func longestProcessingTime(costs: [Double], ranks: Int) -> OwnershipPlan {
        precondition(ranks >= 1, "OwnershipPlan: \(ranks) ranks")
        precondition(costs.allSatisfy { $0 >= 0 && $0.isFinite }, "OwnershipPlan: costs must be finite and non-negative")
        let order = costs.indices.sorted { costs[$0] > costs[$1] || (costs[$0] == costs[$1] && $0 < $1) }
        var loads = [Double](repeating: 0, count: ranks)
        var owners = [Int](repeating: 0, count: costs.count)
        for item in order {
            var lightest = 0
            for rank in 1..<ranks where loads[rank] < loads[lightest] { lightest = rank }
            owners[item] = lightest
            loads[lightest] += costs[item]
        }
        return OwnershipPlan(owners: owners, costs: costs, ranks: ranks)
    }

    package var ranks: Int { loads.count }

    /// The items `rank` owns, in index order.
    package func items(ownedBy rank: Int) -> [Int] {
        owners.indices.filter { owners[$0] == rank }
    }

    /// The largest load over the mean load: 1 is a perfect balance.
    package var imbalance: Double {
        let mean = loads.reduce(0, +) / Double(loads.count)
        return mean > 0 ? loads.max()! / mean : 1
    }
}
