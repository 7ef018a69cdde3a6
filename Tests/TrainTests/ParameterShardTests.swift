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
        let shards = ParameterShard.shards(of: Self.specs, optimizer: config, ranks: 1)
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

    @Test("on several ranks an elementwise matrix above half a rank's share is cut into row bands that tile it; the rest stays whole",
          arguments: [OptimizerConfig.Kind.adamw, .sgd], [1, 2, 3, 7, 40])
    func rowBands(kind: OptimizerConfig.Kind, ranks: Int) {
        // 16 x 64 = 1024 of 1091 elements: above half a rank's share on any number of ranks.
        let specs = ParameterStore<Float>(tensors: [("w1", [16, 64]), ("b1", [16]), ("w2", [3, 16]), ("b2", [3])]).specs
        let shards = ParameterShard.shards(of: specs, optimizer: OptimizerConfig(type: kind), ranks: ranks)
        let bands = shards.filter { $0.tensor == 0 }
        #expect(bands.count == (ranks == 1 ? 1 : min(16, ranks)))
        // Vectors stay whole; the 3 x 16 matrix is above half a share (1091 / 2 ranks) from 12 ranks on.
        #expect(shards.filter { $0.tensor == 1 || $0.tensor == 3 }.allSatisfy { $0.isWholeTensor && $0.stateSlice == nil && $0.stateName == $0.name })
        #expect(shards.filter { $0.tensor == 2 }.count == (ranks >= 12 ? 3 : 1))
        guard ranks > 1 else {
            #expect(bands[0].isWholeTensor && bands[0].stateSlice == nil)
            return
        }
        // Consecutive rows, all of them, sizes within one of each other; each band's state is its
        // rows' slice of the tensor's, kept under the tensor's name.
        #expect(bands.map(\.rows.lowerBound) == [0] + bands.dropLast().map(\.rows.upperBound) && bands.last!.rows.upperBound == 16)
        #expect(bands.map(\.rows.count).max()! - bands.map(\.rows.count).min()! <= 1)
        for (band, shard) in bands.enumerated() {
            #expect(shard.name == "w1#b\(band)" && shard.stateName == "w1" && !shard.isWholeTensor && shard.isContiguous)
            #expect(shard.columns == 0..<64 && shard.shape == [shard.rows.count, 64])
            #expect(shard.stateSlice == shard.tensorElements && shard.tensorElements == shard.rows.lowerBound * 64..<shard.rows.upperBound * 64)
        }
        // A Kronecker optimizer never bands.
        #expect(ParameterShard.shards(of: specs, optimizer: OptimizerConfig(type: .spectral), ranks: ranks).allSatisfy { $0.stateSlice == nil })
    }

    @Test("the splitting hint appears exactly when halving maxFactorDimension would block the costliest shard")
    func splittingHint() {
        let shards = ParameterShard.shards(of: Self.specs, optimizer: OptimizerConfig(type: .spectral), ranks: 2)
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
