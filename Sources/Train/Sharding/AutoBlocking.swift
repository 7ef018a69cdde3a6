import Cluster
import NN
import Optim
import Spectral

/// `maxFactorDimension: "auto"` made a number: the largest limit whose ownership plan balances
/// the ranks, so that one dominant matrix no longer leaves every rank waiting for its owner.
///
/// Blocking changes the optimizer, not only who does the work: each block of a matrix has its own
/// Kronecker factors (and grafting norm and momentum), so the curvature between rows or columns in
/// different blocks is dropped and the preconditioner is coarser the smaller the blocks. Auto
/// therefore splits only as far as the balance needs. It tries the limits at which some side of
/// some matrix is cut into k nearly equal parts (`ceil(side / k)`, k = 2, 3, ..., the cuts
/// `PreconditionerLayout.split` makes), with `ceiling` (the default limit) and never below
/// `floor`, from the largest down, and takes the first whose cost-model plan (`CostModel`,
/// greedy longest-processing-time as the run plans) has an imbalance (busiest rank's load over
/// the mean) of at most `targetImbalance`. When none does, it takes the one whose busiest rank
/// has the least work (ties: the larger limit). On one rank every plan is balanced, so auto is
/// the ceiling there: one-rank runs are the same with auto as with the default.
///
/// A run resolves auto once, at its start, before its shards, optimizer state, memory check or
/// checkpoint comparison depend on it (`TrainingRun`); a resumed run takes its checkpoint's
/// number instead, since the saved optimizer state is blocked at it.
package enum AutoBlocking {
    /// The largest limit auto chooses, and what it chooses on one rank: the default limit.
    package static let ceiling = FactorDimensionLimit.ceiling
    /// The smallest limit auto chooses: smaller blocks make each factor's curvature local to
    /// fewer rows and columns, and each block carries its own per-step overhead.
    package static let floor = 64
    /// The largest imbalance (busiest rank's planned load over the mean) auto accepts.
    package static let targetImbalance = 1.10

    /// What auto became for a run, and why, for the start of the log and the ownership plan.
    package struct Choice: Sendable, Equatable, CustomStringConvertible {
        /// Why the limit is what it is.
        package enum Basis: Sendable, Equatable {
            /// The rule over this job's ranks: the chosen limit's planned imbalance, the ceiling's,
            /// and whether the chosen one is within `targetImbalance`.
            case balance(imbalance: Double, ceilingImbalance: Double, reachesTarget: Bool)
            /// A resumed run's: the checkpoint's optimizer state is blocked at this limit.
            case checkpoint
        }

        package var limit: Int
        package var ranks: Int
        package var basis: Basis

        package init(limit: Int, ranks: Int, basis: Basis) {
            (self.limit, self.ranks, self.basis) = (limit, ranks, basis)
        }

        /// "maxFactorDimension auto -> 392 over 2 ranks (imbalance 1.06; 1024 would give 1.95)".
        package var description: String {
            let chosen = "maxFactorDimension auto -> \(limit)"
            switch basis {
            case .checkpoint:
                return "\(chosen), the checkpoint's: a resumed run keeps the blocking of its optimizer state"
            case .balance(let imbalance, let ceilingImbalance, let reachesTarget):
                let over = "over \(ranks) rank\(ranks == 1 ? "" : "s")"
                let target = String(format: "%.2f", targetImbalance)
                if ranks == 1 { return "\(chosen) on 1 rank (nothing to balance)" }
                if limit == ceiling, reachesTarget {
                    return "\(chosen) \(over) " + String(format: "(imbalance %.2f, within %@ without splitting further)", imbalance, target)
                }
                let ceilingText = limit == ceiling ? "" : String(format: "; %d would give %.2f", ceiling, ceilingImbalance)
                if reachesTarget { return "\(chosen) \(over) " + String(format: "(imbalance %.2f%@)", imbalance, ceilingText) }
                return "\(chosen) \(over) " + String(
                    format: "(imbalance %.2f: no limit down to %d reaches %@, and this one leaves the busiest rank the least work%@)",
                    imbalance, floor, target, ceilingText)
            }
        }
    }

    /// The limits auto tries, largest first: `ceiling`, and every `ceil(side / k)` (k >= 2) of a
    /// side of a matrix among `shapes` (each read as the preconditioner reads it, first dimension
    /// by the rest) in `floor...ceiling`.
    package static func candidates(shapes: [[Int]]) -> [Int] {
        var sides = Set<Int>()
        for shape in shapes where shape.count >= 2 && shape.allSatisfy({ $0 >= 1 }) {
            sides.insert(shape[0])
            sides.insert(shape.dropFirst().reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 })
        }
        var limits: Set<Int> = [ceiling]
        for side in sides {
            // A limit v is ceil(side / k) for some k >= 2 exactly when k = ceil(side / v) gives it
            // back; every v <= ceil(side / 2) is below the side, so that k is at least 2.
            let largest = min(ceiling, side / 2 + side % 2)
            guard largest >= floor else { continue }
            for limit in floor...largest {
                let parts = side / limit + (side % limit == 0 ? 0 : 1)
                if side / parts + (side % parts == 0 ? 0 : 1) == limit { limits.insert(limit) }
            }
        }
        return limits.sorted(by: >)
    }

    /// The limit auto chooses for parameter tensors of `shapes` under `optimizer` over `ranks`
    /// ranks. Optimizers without Kronecker factors (SGD, AdamW) are not blocked: the ceiling.
    package static func choose(shapes: [[Int]], optimizer: OptimizerConfig, ranks: Int) -> Choice {
        precondition(ranks >= 1, "AutoBlocking: \(ranks) ranks")
        let specs = shapes.enumerated().filter { !$0.element.isEmpty && $0.element.allSatisfy { $0 >= 1 } }
            .map { ParameterSpec(name: "\($0.offset)", shape: $0.element, offset: 0) }
        let blocks = optimizer.type == .spectral || optimizer.type == .eigenShampoo
        let atCeiling = load(costs: costs(specs, optimizer: optimizer, limit: ceiling, ranks: ranks), ranks: ranks, unlessAbove: .infinity)!
        var best = (limit: ceiling, load: atCeiling)
        for limit in blocks ? candidates(shapes: specs.map(\.shape)) : [ceiling] {
            let planned = limit == ceiling ? atCeiling
                : load(costs: costs(specs, optimizer: optimizer, limit: limit, ranks: ranks), ranks: ranks, unlessAbove: best.load.largest)
            guard let planned else { continue }
            if planned.imbalance <= targetImbalance {
                return Choice(limit: limit, ranks: ranks, basis: .balance(imbalance: planned.imbalance, ceilingImbalance: atCeiling.imbalance, reachesTarget: true))
            }
            if planned.largest < best.load.largest { best = (limit, planned) }
        }
        return Choice(limit: best.limit, ranks: ranks, basis: .balance(imbalance: best.load.imbalance, ceilingImbalance: atCeiling.imbalance, reachesTarget: false))
    }

    /// `optimizer` with an `auto` limit made the number `choose` gives, and that choice; unchanged
    /// with nil for a number.
    package static func resolved(_ optimizer: OptimizerConfig, shapes: [[Int]], ranks: Int) -> (optimizer: OptimizerConfig, choice: Choice?) {
        guard optimizer.preconditioner.factorDimensionLimit == .auto else { return (optimizer, nil) }
        let choice = choose(shapes: shapes, optimizer: optimizer, ranks: ranks)
        var settings = optimizer
        settings.preconditioner.maxFactorDimension = choice.limit
        return (settings, choice)
    }

    /// The planned cost of each shard `specs` make on `ranks` ranks when blocked at `limit`.
    private static func costs(_ specs: [ParameterSpec], optimizer: OptimizerConfig, limit: Int, ranks: Int) -> [Double] {
        var settings = optimizer
        settings.preconditioner.maxFactorDimension = limit
        return OwnershipReport.costs(of: ParameterShard.shards(of: specs, optimizer: settings, ranks: ranks), optimizer: settings)
    }

    /// The busiest rank's load and the imbalance of the plan of `costs` over `ranks`; nil, without
    /// planning, when no plan could be within the target nor leave its busiest rank below `bound`
    /// (the busiest rank has at least the costliest shard and the mean).
    private static func load(costs: [Double], ranks: Int, unlessAbove bound: Double) -> (largest: Double, imbalance: Double)? {
        let mean = costs.reduce(0, +) / Double(ranks)
        guard mean > 0 else { return (0, 1) }
        let costliest = costs.max() ?? 0
        let least = max(costliest, mean)
        if least > targetImbalance * mean && least >= bound { return nil }
        // With no more shards than ranks, the plan gives each shard a rank of its own.
        let largest = costs.count <= ranks ? costliest : OwnershipPlan.longestProcessingTime(costs: costs, ranks: ranks).loads.max()!
        return (largest, largest / mean)
    }
}
