import Data
import Distributed
import Linalg
import NN
import Optim

/// Planning and printing who owns which parameter tensor.
public enum OwnershipReport {
    /// The cost-model plan of `shards` over `ranks`.
    public static func plan(shards: [ParameterShard], optimizer: OptimizerConfig, ranks: Int) -> OwnershipPlan {
        OwnershipPlan.longestProcessingTime(costs: shards.map { CostModel.cost(of: $0.info, optimizer: optimizer) }, ranks: ranks)
    }

    /// A table: each shard's shape, share of the planned cost and owner; then each rank's load.
    public static func describe(shards: [ParameterShard], plan: OwnershipPlan, optimizer: OptimizerConfig.Kind) -> String {
        let total = max(plan.costs.reduce(0, +), .leastNonzeroMagnitude)
        var rows = [["shard", "shape", "cost", "owner"]]
        for (index, shard) in shards.enumerated() {
            rows.append([shard.name, "\(shard.shape)", String(format: "%.1f%%", 100 * plan.costs[index] / total), "\(plan.owners[index])"])
        }
        var lines = ["ownership plan over \(plan.ranks) rank\(plan.ranks == 1 ? "" : "s") (\(optimizer.rawValue)):"]
        lines += TextTable.render(rows)
        let loads = plan.loads.enumerated().map { String(format: "rank %d %.1f%%", $0.offset, 100 * $0.element / total) }
        lines.append(loads.joined(separator: ", ") + String(format: "; imbalance %.2f (largest load / mean)", plan.imbalance))
        return lines.joined(separator: "\n")
    }

    /// The plan `config` would get on `ranks` ranks, without training (`spectrain train --plan-only`).
    /// Reads the training images only for their shape.
    public static func preview(config: TrainConfig, ranks: Int) throws(TrainError) -> String {
        let training: ImageDataset
        do {
            training = try ImageDataset.load(images: config.data.trainImages, labels: config.data.trainLabels)
        } catch {
            throw TrainError("\(error)")
        }
        let model: Sequential<Float>
        do {
            model = try Sequential<Float>.build(inputShape: training.sampleShape, specs: config.model.layers, maxBatch: 1)
        } catch {
            throw TrainError("model: \(error)")
        }
        let shards = ParameterShard.shards(of: model.parameters.specs, optimizer: config.optimizer)
        return describe(shards: shards, plan: plan(shards: shards, optimizer: config.optimizer, ranks: ranks), optimizer: config.optimizer.type)
    }
}
