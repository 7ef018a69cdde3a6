import Foundation
import Linalg
@testable import Optim
import Spectral
import Support
import Testing

/// Runs `steps` updates of one tensor with fixed pseudo-random gradients; returns the parameters.
func run(_ optimizer: Optimizer, tensor: Int = 0, start: [Float], steps: Range<Int>, seed: UInt64) throws -> [Float] {
    var parameters = start
    var generator = SeededGenerator(seed: seed)
    for step in steps {
        let gradient = (0..<start.count).map { _ in generator.nextGaussian(Float.self) }
        try parameters.withUnsafeMutableBufferPointer { values in
            try gradient.withUnsafeBufferPointer { try optimizer.update(shard: tensor, parameters: values, gradient: $0, step: step) }
        }
    }
    return parameters
}

func decode(_ json: String) throws -> OptimizerConfig {
    try ConfigurationFile.decode(OptimizerConfig.self, from: Data(json.utf8), path: "test.json")
}

@Suite("Optimizers")
struct OptimizerTests {
    @Test("AdamW follows its equations, with decoupled weight decay on matrices only")
    func adamw() throws {
        var config = OptimizerConfig(type: .adamw)
        config.learningRate = 0.1
        config.weightDecay = 0.5
        let optimizer = try Optimizer(config: config, shards: [ParameterInfo(name: "w", shape: [1, 2]), ParameterInfo(name: "b", shape: [2])], totalSteps: 10, globalBatch: 1)
        var weights: [Float] = [1, -2]
        var bias: [Float] = [1, -2]
        let gradients: [[Float]] = [[0.5, -1], [0.25, 2]]
        var m: [Double] = [0, 0], v: [Double] = [0, 0]
        var expectedWeights: [Double] = [1, -2], expectedBias: [Double] = [1, -2]
        for (step, gradient) in gradients.enumerated() {
            try weights.withUnsafeMutableBufferPointer { w in try gradient.withUnsafeBufferPointer { try optimizer.update(shard: 0, parameters: w, gradient: $0, step: step) } }
            try bias.withUnsafeMutableBufferPointer { b in try gradient.withUnsafeBufferPointer { try optimizer.update(shard: 1, parameters: b, gradient: $0, step: step) } }
            for i in 0..<2 {
                let g = Double(gradient[i])
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                let direction = (m[i] / (1 - pow(0.9, Double(step + 1)))) / ((v[i] / (1 - pow(0.999, Double(step + 1)))).squareRoot() + 1e-8)
                expectedWeights[i] -= 0.1 * (direction + 0.5 * expectedWeights[i])
                expectedBias[i] -= 0.1 * direction
            }
        }
        // Float32 arithmetic on values of order 1: agreement to 1e-6.
        for i in 0..<2 {
            #expect(abs(Double(weights[i]) - expectedWeights[i]) < 1e-6)
            #expect(abs(Double(bias[i]) - expectedBias[i]) < 1e-6)
        }
    }

    /// AdamW with weight decay (Adam reads the gradient itself; the decay adds the update) and
    /// without (Adam adds the update in its own pass), SGD with Nesterov momentum and weight
    /// decay, and plain SGD (the learning rate alone, folded into the parameter update).
    @Test("elementwise chains run block by block over the cores give the same bits as stage by stage", arguments: [
        (OptimizerConfig.Kind.adamw, 0.9, 0.01), (.adamw, 0.9, 0), (.sgd, 0.9, 0.01), (.sgd, 0, 0),
    ])
    func blockByBlockEqualsStageByStage(kind: OptimizerConfig.Kind, momentum: Double, weightDecay: Double) throws {
        var config = OptimizerConfig(type: kind)
        config.weightDecay = weightDecay
        config.momentum = momentum
        config.nesterov = kind == .sgd && momentum > 0
        config.schedule = .warmupCosine(warmupSteps: 2, finalFraction: 0.1)
        // 10,003 elements: several blocks of `Optimizer.blockElements`, split over the cores, and a
        // tail that is not a multiple of the SIMD width.
        let shard = ParameterInfo(name: "w", shape: [7, 1429])
        let optimizer = try Optimizer(config: config, shards: [shard], totalSteps: 6, globalBatch: 1)
        let stages = OptimizerRecipe(config: config, totalSteps: 6, globalBatch: 1).chain(for: shard)
        #expect(stages.allSatisfy { $0 is any ElementwiseTransform })
        var generator = SeededGenerator(seed: 61)
        let start = (0..<shard.count).map { _ in generator.nextGaussian(Float.self) }
        let fused = try run(optimizer, start: start, steps: 0..<4, seed: 62)

        var staged = start
        var gradientGenerator = SeededGenerator(seed: 62)
        var timings = OptimizerTimings()
        for step in 0..<4 {
            let gradient = Matrix(rows: 7, columns: 1429, elements: (0..<shard.count).map { _ in gradientGenerator.nextGaussian(Float.self) })
            var direction = gradient
            for stage in stages {
                try staged.withUnsafeBufferPointer { parameters in
                    try stage.apply(direction: &direction, gradient: gradient, factoredGradient: nil, parameters: parameters, step: step, timings: &timings)
                }
            }
            for index in staged.indices { staged[index] += direction.elements[index] }
        }
        // The same operations in the same order on each element: equal bits.
        #expect(fused == staged)
    }

    @Test("SGD with momentum and Nesterov")
    func sgd() throws {
        for nesterov in [false, true] {
            var config = OptimizerConfig(type: .sgd)
            config.learningRate = 0.5
            config.momentum = 0.9
            config.nesterov = nesterov
            let optimizer = try Optimizer(config: config, shards: [ParameterInfo(name: "b", shape: [1])], totalSteps: 3, globalBatch: 1)
            var value: [Float] = [0]
            var velocity: Float = 0
            var expected: Float = 0
            for (step, g) in [Float(1), 2, -1].enumerated() {
                try value.withUnsafeMutableBufferPointer { w in try [g].withUnsafeBufferPointer { try optimizer.update(shard: 0, parameters: w, gradient: $0, step: step) } }
                velocity = 0.9 * velocity + g
                expected -= 0.5 * (nesterov ? g + 0.9 * velocity : velocity)
            }
            #expect(value[0] == expected)
        }
    }

    @Test("warm-up then cosine decay")
    func schedule() {
        let schedule = LearningRateSchedule.warmupCosine(warmupSteps: 10, finalFraction: 0.1)
        #expect(schedule.rate(base: 1, step: 0, totalSteps: 110) == 0.1)
        #expect(schedule.rate(base: 1, step: 9, totalSteps: 110) == 1)
        #expect(abs(schedule.rate(base: 1, step: 60, totalSteps: 110) - 0.55) < 1e-12)
        #expect(abs(schedule.rate(base: 1, step: 110, totalSteps: 110) - 0.1) < 1e-12)
        #expect(LearningRateSchedule.constant.rate(base: 0.3, step: 7, totalSteps: 10) == 0.3)
    }

    @Test("the spectral direction is the Kronecker-preconditioned gradient, grafted to Adam's norm")
    func spectralDirection() throws {
        var config = OptimizerConfig(type: .spectral)
        config.momentum = 0
        config.learningRate = 1
        config.preconditioner = PreconditionerOptions(mode: .kl, factor: .init(curvatureLearningRate: 0.1))
        let tensor = ParameterInfo(name: "w", shape: [4, 3])
        let optimizer = try Optimizer(config: config, shards: [tensor], totalSteps: 10, globalBatch: 1)
        let reference = KroneckerFactors<Float>(rows: 4, columns: 3, mode: .kl, options: config.preconditioner.factor)
        var generator = SeededGenerator(seed: 3)
        var secondMoment = [Double](repeating: 0, count: 12)
        for step in 0..<5 {
            let gradient = Matrix<Float>.gaussian(rows: 4, columns: 3, using: &generator)
            var parameters = [Float](repeating: 0, count: 12)
            try parameters.withUnsafeMutableBufferPointer { w in
                try gradient.elements.withUnsafeBufferPointer { try optimizer.update(shard: 0, parameters: w, gradient: $0, step: step) }
            }
            try reference.update(gradient: gradient)
            var preconditioned = Matrix<Float>(rows: 0, columns: 0)
            reference.preconditionGradient(gradient, power: 2, damping: .standard, into: &preconditioned)
            var graftNorm = 0.0
            for (index, g) in gradient.elements.enumerated() {
                secondMoment[index] = 0.999 * secondMoment[index] + 0.001 * Double(g * g)
                let graft = Double(g) / ((secondMoment[index] / (1 - pow(0.999, Double(step + 1)))).squareRoot() + 1e-8)
                graftNorm += graft * graft
            }
            let scale = graftNorm.squareRoot() / Double(preconditioned.frobeniusNorm)
            // parameters = 0 - lr * direction.
            for (index, value) in parameters.enumerated() {
                let expected = -Double(preconditioned.elements[index]) * scale
                #expect(abs(Double(value) - expected) < 1e-5 * max(1, abs(expected)))
            }
        }
    }

    @Test("Eigen-Shampoo recomputes roots every rootInterval steps")
    func eigenShampooRoots() throws {
        var config = OptimizerConfig(type: .eigenShampoo)
        config.momentum = 0
        config.grafting = .none
        config.learningRate = 1
        config.rootInterval = 3
        config.preconditioner = PreconditionerOptions(mode: .shampoo, power: 4, damping: .absolute(1e-6), factor: .init(curvatureLearningRate: 0.2))
        let optimizer = try Optimizer(config: config, shards: [ParameterInfo(name: "w", shape: [3, 5])], totalSteps: 10, globalBatch: 1)
        var left = Matrix<Double>.identity(3)
        var right = Matrix<Double>.identity(5)
        var rootLeft = Matrix<Double>.identity(3)
        var rootRight = Matrix<Double>.identity(5)
        var generator = SeededGenerator(seed: 4)
        for step in 0..<7 {
            let gradient = Matrix<Float>.gaussian(rows: 3, columns: 5, using: &generator)
            let g = gradient.converted(to: Double.self)
            left = 0.8 * left + 0.2 * BLAS.product(g, g, transposeB: true)
            right = 0.8 * right + 0.2 * BLAS.product(g, g, transposeA: true)
            if step % 3 == 0 {
                rootLeft = try MatrixFunctions.symmetric(left) { Double.pow(max($0, 0) + 1e-6, -0.25) }
                rootRight = try MatrixFunctions.symmetric(right) { Double.pow(max($0, 0) + 1e-6, -0.25) }
            }
            var parameters = [Float](repeating: 0, count: 15)
            try parameters.withUnsafeMutableBufferPointer { w in
                try gradient.elements.withUnsafeBufferPointer { try optimizer.update(shard: 0, parameters: w, gradient: $0, step: step) }
            }
            let expected = -1 * BLAS.product(BLAS.product(rootLeft, g), rootRight)
            let result = Matrix<Float>(rows: 3, columns: 5, elements: parameters).converted(to: Double.self)
            // Float32 EMA and ssyevd against Float64 references: 1e-4 relative.
            #expect(result.relativeDistance(to: expected) < 1e-4, "step \(step)")
        }
    }

    @Test("saving and restoring the state continues bit for bit", arguments: OptimizerConfig.Kind.allCases)
    func stateRoundTrip(kind: OptimizerConfig.Kind) throws {
        var config = OptimizerConfig(type: kind)
        config.preconditioner = PreconditionerOptions(mode: kind == .spectral ? .kl : .shampoo, maxFactorDimension: 4, factor: .init(curvatureLearningRate: 0.1))
        config.rootInterval = 2
        let tensors = [ParameterInfo(name: "w", shape: [6, 3]), ParameterInfo(name: "b", shape: [5])]
        func fresh() throws -> Optimizer { try Optimizer(config: config, shards: tensors, totalSteps: 20, globalBatch: 8) }
        for tensor in 0..<2 {
            let start = (0..<tensors[tensor].count).map { Float($0) / 10 }
            let continuous = try fresh()
            let middle = try run(continuous, tensor: tensor, start: start, steps: 0..<5, seed: 1)
            let saved = continuous.stateTensors(shard: tensor)
            let uninterrupted = try run(continuous, tensor: tensor, start: middle, steps: 5..<9, seed: 2)
            let resumed = try fresh()
            try resumed.restore(shard: tensor, from: saved)
            #expect(try run(resumed, tensor: tensor, start: middle, steps: 5..<9, seed: 2) == uninterrupted)
        }
    }

    @Test("restoring checks names and shapes")
    func restoreErrors() throws {
        let optimizer = try Optimizer(config: OptimizerConfig(type: .adamw), shards: [ParameterInfo(name: "w", shape: [2, 2])], totalSteps: 1, globalBatch: 1)
        #expect(throws: OptimizerError("w: optimizer state 'adam.m' is missing")) { try optimizer.restore(shard: 0, from: []) }
        let wrong = [NamedTensor(name: "adam.m", shape: [3], values: [0, 0, 0]), NamedTensor(name: "adam.v", shape: [4], values: [0, 0, 0, 0])]
        #expect(throws: OptimizerError("w: optimizer state 'adam.m' is [3] Float32, expected [4] Float32")) { try optimizer.restore(shard: 0, from: wrong) }
    }

    @Test("configurations decode with defaults; bad ones name the field")
    func configuration() throws {
        let spectral = try decode(#"{"type": "spectral", "preconditioner": {"mode": "kl"}, "learningRate": 0.01}"#)
        #expect(spectral.preconditioner.power == 2 && spectral.momentum == 0.9 && spectral.grafting == .adam)
        let problems = [
            (#"{"type": "lamb"}"#, "field 'type': 'lamb' is not one of sgd, adamw, eigenShampoo, spectral"),
            (#"{"type": "sgd", "learningRate": -1}"#, "learningRate must be > 0, got -1.0"),
            (#"{"type": "sgd", "momentum": 1}"#, "momentum must be in [0, 1), got 1.0"),
            (#"{"type": "spectral", "preconditioner": {"power": 0}}"#, "power must be a positive number, got 0.0"),
            (#"{"type": "spectral", "grafting": "lion"}"#, "'lion' is not one of none, sgd, adam"),
            (#"{"type": "spectral", "schedule": {"type": "warmupCosine", "finalFraction": 2}}"#, "field 'schedule.finalFraction': must be in [0, 1], got 2.0"),
            (#"{"type": "sgd", "lr": 0.1}"#, "unknown field 'lr'"),
        ]
        for (json, message) in problems {
            #expect(throws: ConfigurationError.self) { try decode(json) }
            do {
                _ = try decode(json)
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
    /// The graft's norm is summed in fixed blocks and SIMD lanes, over both cores for large
    /// tensors; against a Float64 sum of the same formula it may differ by rounding only
    /// (relative 1e-5: 100k Float32 terms summed pairwise-ish, each within an ulp).
    @Test("Adam grafting of a large tensor: the blocked, parallel norm and second moment match the formula", arguments: [7, 16_384, 40_003])
    func adamGraftingLarge(count: Int) throws {
        let grafting = Grafting(kind: .adam, count: count, secondMomentDecay: 0.9, epsilon: 1e-8)
        var generator = SeededGenerator(seed: 11)
        var secondMoment = [Double](repeating: 0, count: count)
        var timings = OptimizerTimings()
        for step in 0..<3 {
            let gradient = Matrix<Float>.gaussian(rows: 1, columns: count, using: &generator)
            var direction = Matrix<Float>.gaussian(rows: 1, columns: count, using: &generator)
            let directionNorm = Double(direction.frobeniusNorm)
            let original = direction
            try [Float]().withUnsafeBufferPointer { try grafting.apply(direction: &direction, gradient: gradient, factoredGradient: nil, parameters: $0, step: step, timings: &timings) }
            var graftNorm = 0.0
            for (index, g) in gradient.elements.enumerated() {
                secondMoment[index] = 0.9 * secondMoment[index] + 0.1 * Double(g) * Double(g)
                let graft = Double(g) / ((secondMoment[index] / (1 - pow(0.9, Double(step + 1)))).squareRoot() + 1e-8)
                graftNorm += graft * graft
            }
            let scale = graftNorm.squareRoot() / directionNorm
            for index in [0, count / 2, count - 1] {
                let expected = Double(original.elements[index]) * scale
                #expect(abs(Double(direction.elements[index]) - expected) <= 1e-5 * abs(expected), "element \(index) at step \(step)")
            }
        }
    }

    @Test("momentum over a large tensor (split over the cores) follows v <- mu v + (1 - dampening) d", arguments: [false, true])
    func momentumLarge(nesterov: Bool) throws {
        let count = 50_001
        let momentum = Momentum(count: count, momentum: 0.9, dampening: 0.5, nesterov: nesterov)
        var generator = SeededGenerator(seed: 5)
        var velocity = [Float](repeating: 0, count: count)
        var timings = OptimizerTimings()
        for step in 0..<3 {
            var direction = Matrix<Float>.gaussian(rows: 1, columns: count, using: &generator)
            let original = direction.elements
            try [Float]().withUnsafeBufferPointer { try momentum.apply(direction: &direction, gradient: direction, factoredGradient: nil, parameters: $0, step: step, timings: &timings) }
            for index in 0..<count {
                velocity[index] = 0.9 * velocity[index] + 0.5 * original[index]
                // Elementwise, the same operations in the same order: equal bit for bit.
                let expected = nesterov ? original[index] + 0.9 * velocity[index] : velocity[index]
                #expect(direction.elements[index] == expected, "element \(index) at step \(step)")
                if direction.elements[index] != expected { return }
            }
        }
    }
}
