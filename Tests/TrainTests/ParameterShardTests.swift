import Cluster
import NN
import Optim
import Spectral
import Testing
@testable import Train

@Suite("Parameter shards")
struct ParameterShardTests {
    static let specs = [
        ParameterSpec(name: "0_conv.weight", shape: [6, 1, 3, 3], offset: 0),
        ParameterSpec(name: "0_conv.bias", shape: [6], offset: 54),
        ParameterSpec(name: "1_linear.weight", shape: [10, 7], offset: 60),
        ParameterSpec(name: "1_linear.bias", shape: [10], offset: 130),
    ]

    @Test("shards, costs and the optimizer's own layout follow OptimizerConfig.treatment",
          arguments: [OptimizerConfig.Kind.spectral, .eigenShampoo, .adamw], [PreconditionerOptions.LargeDimensions.block, .diagonal])
    func shardsFollowTreatment(kind: OptimizerConfig.Kind, largeDimensions: PreconditionerOptions.LargeDimensions) {
        var config = OptimizerConfig(type: kind)
        config.preconditioner.maxFactorDimension = 4
        config.preconditioner.largeDimensions = largeDimensions
        let shards = ParameterShard.shards(of: Self.specs, optimizer: config)
        for (index, spec) in Self.specs.enumerated() {
            let tensor = ParameterInfo(name: spec.name, shape: spec.shape)
            let own = shards.filter { $0.tensor == index }
            let treatment = config.treatment(of: tensor)
            if case .preconditioned(.blocks(let rowBands, let columnBands)) = treatment, rowBands.count * columnBands.count > 1 {
                #expect(own.map { [$0.rows, $0.columns] } == rowBands.flatMap { rows in columnBands.map { [rows, $0] } })
                // Each block shard is one Kronecker block for the optimizer that updates it.
                for shard in own {
                    #expect(config.treatment(of: shard.info) == .preconditioned(.blocks(rowBands: [0..<shard.rows.count], columnBands: [0..<shard.columns.count])))
                }
                let blockCosts = own.map { CostModel.cost(of: $0.info, optimizer: config) - Double($0.count) }
                #expect(abs(CostModel.cost(of: tensor, optimizer: config) - Double(tensor.count) - blockCosts.reduce(0, +)) < 1e-9)
            } else {
                #expect(own.count == 1 && own[0].isWholeTensor && own[0].name == spec.name)
                let blocked: Bool
                if case .preconditioned(.blocks) = treatment { blocked = true } else { blocked = false }
                #expect((CostModel.cost(of: tensor, optimizer: config) > Double(tensor.count)) == blocked)
            }
        }
    }

    @Test("the splitting hint appears exactly when halving maxFactorDimension would block the costliest shard")
    func splittingHint() {
        let shards = ParameterShard.shards(of: Self.specs, optimizer: OptimizerConfig(type: .spectral))
        let plan = OwnershipPlan(owners: [0, 0, 1, 1], costs: [10, 1, 100, 1], ranks: 2)
        for kind in OptimizerConfig.Kind.allCases {
            for largeDimensions in [PreconditionerOptions.LargeDimensions.block, .diagonal] {
                var config = OptimizerConfig(type: kind)
                config.preconditioner.largeDimensions = largeDimensions
                let hint = OwnershipReport.splittingHint(shards: shards, plan: plan, optimizer: config) ?? ""
                #expect(hint.hasPrefix("note: 1_linear.weight alone is"))
                #expect(hint.hasSuffix("; optimizer.preconditioner.maxFactorDimension=5 would split it into blocks (or =auto, the blocking that balances the ranks)") == (kind == .spectral || kind == .eigenShampoo))
            }
        }
    }
}
