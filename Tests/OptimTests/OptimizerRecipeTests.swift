import Linalg
@testable import Optim
import Spectral
import Testing

@Suite("Optimizer recipes")
struct OptimizerRecipeTests {
    /// The chain's stages by type, with the Kronecker method spelled out.
    func stages(_ config: OptimizerConfig, _ shard: ParameterInfo) -> [String] {
        OptimizerRecipe(config: config, totalSteps: 10, globalBatch: 4).chain(for: shard).map { stage in
            if let preconditioning = stage as? KroneckerPreconditioning { return "KroneckerPreconditioning(\(preconditioning.method))" }
            return String(describing: type(of: stage))
        }
    }

    let matrix = ParameterInfo(name: "w", shape: [3, 2])
    let vector = ParameterInfo(name: "b", shape: [3])

    @Test("each recipe is the chain its doc comment lists")
    func chains() {
        var sgd = OptimizerConfig(type: .sgd)
        #expect(stages(sgd, matrix) == ["Momentum", "LearningRateScaling"])
        sgd.momentum = 0
        sgd.weightDecay = 0.1
        #expect(stages(sgd, matrix) == ["WeightDecay", "LearningRateScaling"])
        #expect(stages(sgd, vector) == ["LearningRateScaling"])

        var adamw = OptimizerConfig(type: .adamw)
        adamw.momentum = 0.9
        #expect(stages(adamw, matrix) == ["AdamScaling", "LearningRateScaling"])
        adamw.weightDecay = 0.1
        #expect(stages(adamw, matrix) == ["AdamScaling", "WeightDecay", "LearningRateScaling"])
        #expect(stages(adamw, vector) == ["AdamScaling", "LearningRateScaling"])
        adamw.decayVectors = true
        #expect(stages(adamw, vector) == ["AdamScaling", "WeightDecay", "LearningRateScaling"])

        var spectral = OptimizerConfig(type: .spectral)
        #expect(stages(spectral, matrix) == ["KroneckerPreconditioning(spectral)", "Grafting", "Momentum", "LearningRateScaling"])
        spectral.weightDecay = 0.1
        #expect(stages(spectral, matrix) == ["KroneckerPreconditioning(spectral)", "Grafting", "Momentum", "WeightDecay", "LearningRateScaling"])

        var eigen = OptimizerConfig(type: .eigenShampoo)
        #expect(stages(eigen, vector) == ["KroneckerPreconditioning(eigen)", "Grafting", "Momentum", "LearningRateScaling"])
        eigen.grafting = .none
        eigen.momentum = 0
        #expect(stages(eigen, matrix) == ["KroneckerPreconditioning(eigen)", "LearningRateScaling"])
    }

    /// `W <- W - lr (d + wd W)` as the optimizer wrote it before it was a chain of transforms.
    func reference(_ parameter: Float, _ direction: Float, rate: Float, decay: Float) -> Float {
        parameter - rate * (direction + decay * parameter)
    }

    /// Weight decay (left out at 0) and the learning rate as transforms, then `W += d`.
    func chained(_ parameters: [Float], _ directions: [Float], rate: Double, decay: Double) throws -> [Float] {
        var stages: [any TensorTransform] = [LearningRateScaling(schedule: .constant, baseRate: rate, totalSteps: 1)]
        if decay != 0 { stages.insert(WeightDecay(decay: decay), at: 0) }
        let gradient = Matrix<Float>(rows: 1, columns: directions.count, elements: directions)
        var direction = gradient
        var timings = OptimizerTimings()
        try parameters.withUnsafeBufferPointer { values in
            for stage in stages {
                try stage.apply(direction: &direction, gradient: gradient, factoredGradient: nil, parameters: values, step: 0, timings: &timings)
            }
        }
        return zip(parameters, direction.elements).map { $0 + $1 }
    }

    @Test("decay and learning rate as transforms give the old update bit for bit, signed zeros included; a zero decay may be left out",
          arguments: [0.0, 0.01, 0.5])
    func stepBitForBit(decay: Double) throws {
        var generator = SeededGenerator(seed: 8)
        let special: [Float] = [0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 1, -1, 3e38, -3e38, 1e-30]
        var parameters: [Float] = [], directions: [Float] = []
        for parameter in special {
            for direction in special {
                parameters.append(parameter)
                directions.append(direction)
            }
        }
        for _ in 0..<1000 {
            parameters.append(generator.nextGaussian(Float.self))
            directions.append(generator.nextGaussian(Float.self) * 1e-3)
        }
        for rate in [1e-3, 0.05, 0.3] {
            let result = try chained(parameters, directions, rate: rate, decay: decay)
            for index in parameters.indices {
                let expected = reference(parameters[index], directions[index], rate: Float(rate), decay: Float(decay))
                #expect(result[index].bitPattern == expected.bitPattern,
                        "W \(parameters[index]), d \(directions[index]), lr \(rate), wd \(decay): \(result[index]) vs \(expected)")
            }
        }
    }

    @Test("the treatment is the preconditioner's layout for Spectral and Eigen-Shampoo, elementwise otherwise")
    func treatment() {
        var config = OptimizerConfig(type: .spectral)
        config.preconditioner.maxFactorDimension = 2
        let layout = config.preconditioner.layout(shape: [3, 2])
        #expect(config.treatment(of: matrix) == .preconditioned(layout))
        #expect(layout.blockCount == 2)
        #expect(config.treatment(of: vector) == .preconditioned(.diagonal))
        #expect(config.treatment(of: ParameterInfo(name: "conv", shape: [2, 1, 3, 3])) == .preconditioned(config.preconditioner.layout(shape: [2, 9])))
        config.type = .eigenShampoo
        #expect(config.treatment(of: matrix) == .preconditioned(layout))
        for kind in [OptimizerConfig.Kind.sgd, .adamw] {
            config.type = kind
            #expect(config.treatment(of: matrix) == .elementwise)
        }
    }

    @Test("checkpoint state names and order per shard", arguments: [OptimizerConfig.Kind.spectral, .eigenShampoo])
    func stateNames(kind: OptimizerConfig.Kind) throws {
        var config = OptimizerConfig(type: kind)
        config.preconditioner.maxFactorDimension = 2
        let optimizer = try Optimizer(config: config, shards: [matrix, vector], totalSteps: 1, globalBatch: 1)
        let perSide = kind == .spectral ? ["eigenvectors", "eigenvalues", "counters", "defectBound"] : ["statistic", "eigenvectors", "eigenvalues", "counters", "lowestEigenvalueRatio"]
        let perBlock = kind == .spectral ? "scale" : "rootFailures"
        let blocks = ["block0", "block1"].flatMap { block in
            ["L", "R"].flatMap { side in perSide.map { "\(block).\(side).\($0)" } } + ["\(block).\(perBlock)"]
        }
        #expect(optimizer.stateTensors(shard: 0).map(\.name) == blocks + ["graft.v", "momentum"])
        #expect(optimizer.stateTensors(shard: 1).map(\.name) == ["diagonal.s", "graft.v", "momentum"])
        let integers = optimizer.stateTensors(shard: 0).filter { $0.integers != nil }.map(\.name)
        #expect(integers == blocks.filter { $0.hasSuffix("counters") || $0.hasSuffix("rootFailures") })

        // bfloat16 state: the same names; the k x k matrices (B; Eigen-Shampoo's L too) in BF16.
        config.preconditioner.stateDType = .bfloat16
        let halved = try Optimizer(config: config, shards: [matrix, vector], totalSteps: 1, globalBatch: 1)
        #expect(halved.stateTensors(shard: 0).map(\.name) == blocks + ["graft.v", "momentum"])
        let bfloat16 = halved.stateTensors(shard: 0).filter { $0.bfloat16Bits != nil }.map(\.name)
        #expect(bfloat16 == blocks.filter { $0.hasSuffix("eigenvectors") || $0.hasSuffix("statistic") })
    }

    @Test("restore errors name the shard and the state tensor")
    func restoreErrors() throws {
        var config = OptimizerConfig(type: .spectral)
        config.preconditioner.maxFactorDimension = 2
        let optimizer = try Optimizer(config: config, shards: [matrix, vector], totalSteps: 1, globalBatch: 1)
        let saved = optimizer.stateTensors(shard: 0)
        var counters = saved
        counters[2] = NamedTensor(name: "block0.L.counters", shape: [3], values: [0, 0, 0] as [Float])
        #expect(throws: OptimizerError("w: optimizer state 'block0.L.counters' is [3] Float32, expected [4] Int64")) {
            try optimizer.restore(shard: 0, from: counters)
        }
        var scale = saved
        scale[8] = NamedTensor(name: "block0.scale", shape: [1], values: [2] as [Float])
        #expect(throws: OptimizerError("w: block0: invalid factor state: shampoo mode has scale 1, got 2.0")) {
            try optimizer.restore(shard: 0, from: scale)
        }
        #expect(throws: OptimizerError("b: invalid factor state: diagonal curvature must be finite and non-negative")) {
            try optimizer.restore(shard: 1, from: [NamedTensor(name: "diagonal.s", shape: [3], values: [1, -1, 1] as [Float])])
        }
    }
}
