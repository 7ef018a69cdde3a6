import Cluster
import Datasets
import NN
import Optim
import Support

/// Planning and printing who owns which parameter tensor.
package enum OwnershipReport {
    /// The cost-model plan of `shards` over `ranks`.
    package static func plan(shards: [ParameterShard], optimizer: OptimizerConfig, ranks: Int) -> OwnershipPlan {
        OwnershipPlan.longestProcessingTime(costs: costs(of: shards, optimizer: optimizer), ranks: ranks)
    }

    /// The planned cost of each shard (`CostModel`).
    static func costs(of shards: [ParameterShard], optimizer: OptimizerConfig) -> [Double] {
        shards.map { CostModel.cost(of: $0.info, optimizer: optimizer) }
    }

    /// A table: each shard's shape, share of the planned cost and owner; then each rank's load,
    /// what `maxFactorDimension: "auto"` chose (`automatic`, nil when the limit was a number), and
    /// a hint when one shard alone is more than a rank's fair share, which no plan can fix.
    package static func describe(
        shards: [ParameterShard], plan: OwnershipPlan, optimizer: OptimizerConfig, automatic: AutoBlocking.Choice? = nil
    ) -> String {
        let total = max(plan.costs.reduce(0, +), .leastNonzeroMagnitude)
        var rows = [["shard", "shape", "cost", "owner"]]
        for (index, shard) in shards.enumerated() {
            rows.append([shard.name, "\(shard.shape)", String(format: "%.1f%%", 100 * plan.costs[index] / total), "\(plan.owners[index])"])
        }
        var lines = ["ownership plan over \(plan.ranks) rank\(plan.ranks == 1 ? "" : "s") (\(optimizer.type.rawValue)):"]
        lines += TextTable.render(rows)
        let loads = plan.loads.enumerated().map { String(format: "rank %d %.1f%%", $0.offset, 100 * $0.element / total) }
        lines.append(loads.joined(separator: ", ") + String(format: "; imbalance %.2f (largest load / mean)", plan.imbalance))
        if let automatic { lines.append(automatic.description) }
        if let hint = splittingHint(shards: shards, plan: plan, optimizer: optimizer, automatic: automatic) { lines.append(hint) }
        return lines.joined(separator: "\n")
    }

    /// When the costliest shard alone exceeds a rank's even share by more than a quarter, the
    /// other ranks wait for its owner every step whatever the plan; with Kronecker factors a
    /// smaller `maxFactorDimension` cuts that shard into blocks that can go to different ranks
    /// (suggested when `OptimizerConfig.treatment(of:)` says blocking at half its longer side
    /// would, and the limit is a number: `auto` has already chosen, or kept the checkpoint's).
    static func splittingHint(
        shards: [ParameterShard], plan: OwnershipPlan, optimizer: OptimizerConfig, automatic: AutoBlocking.Choice? = nil
    ) -> String? {
        let total = plan.costs.reduce(0, +)
        guard plan.ranks > 1, total > 0, let largest = plan.costs.indices.max(by: { plan.costs[$0] < plan.costs[$1] }) else { return nil }
        let share = total / Double(plan.ranks)
        guard plan.costs[largest] > 1.25 * share else { return nil }
        var hint = String(format: "note: %@ alone is %.1f%% of the cost, more than a rank's even share (%.1f%%), so no plan over %d ranks balances it",
                          shards[largest].name, 100 * plan.costs[largest] / total, 100 * share / total, plan.ranks)
        if let automatic {
            switch automatic.basis {
            case .checkpoint: return hint + "; its blocking is the checkpoint's"
            case .balance: return hint + "; auto found no better blocking down to \(AutoBlocking.floor)"
            }
        }
        let shard = shards[largest].info
        let side = max(shard.matrixShape.rows, shard.matrixShape.columns)
        var halved = optimizer
        halved.preconditioner.maxFactorDimension = (side + 1) / 2
        halved.preconditioner.largeDimensions = .block
        if case .preconditioned(let layout) = halved.treatment(of: shard), layout.blockCount > 1 {
            hint += "; optimizer.preconditioner.maxFactorDimension=\(halved.preconditioner.maxFactorDimension) would split it into blocks"
                + " (or =auto, the blocking that balances the ranks)"
        }
        return hint
    }

    /// The most ranks a preview plans for (a plan holds per-rank tables).
    package static let maxPreviewRanks = 65_536

    /// The plan `config` would get on `ranks` ranks, without training (`spectrain train --plan-only`),
    /// with `maxFactorDimension: "auto"` resolved as a new run over `ranks` resolves it.
    /// Reads the training images only for their shape (a language model's text for its vocabulary).
    package static func preview(config: TrainConfig, ranks: Int) throws(TrainError) -> String {
        guard (1...maxPreviewRanks).contains(ranks) else { throw TrainError("ranks must be in 1...\(maxPreviewRanks), got \(ranks)") }
        let model = try previewModel(config: config)
        let specs = model.parameters.specs
        let (optimizer, automatic) = AutoBlocking.resolved(config.optimizer, shapes: specs.map(\.shape), ranks: ranks)
        let shards = ParameterShard.shards(of: specs, optimizer: optimizer, ranks: ranks)
        return describe(shards: shards, plan: plan(shards: shards, optimizer: optimizer, ranks: ranks), optimizer: optimizer, automatic: automatic)
    }

    /// The model of `config`, for one sample, uninitialised.
    private static func previewModel(config: TrainConfig) throws(TrainError) -> Sequential<Float> {
        if config.data.text != nil {
            let corpus: TextCorpus
            do {
                corpus = try config.data.loadText()
            } catch {
                throw TrainError("\(error)")
            }
            return try LanguageModeling.buildModel(config: config, vocabulary: corpus.vocabulary.count, maxBatch: 1)
        }
        let training: ImageDataset
        do {
            training = try ImageDataset.load(images: config.data.trainImages, labels: config.data.trainLabels)
        } catch {
            throw TrainError("\(error)")
        }
        do {
            return try Sequential<Float>.build(inputShape: training.sampleShape, specs: config.model.layers, maxBatch: 1)
        } catch {
            throw TrainError("model: \(error)")
        }
    }
}
