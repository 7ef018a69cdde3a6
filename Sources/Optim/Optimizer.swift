import Linalg
import Spectral

/// An optimizer over named shards (whole parameter tensors, or blocks of one): for each shard the
/// chain of transforms its `OptimizerRecipe` gives (the explicit state), which turns the
/// gradient into the step, then `W <- W + step` (optax's `apply_updates`). Every recipe ends
/// with weight decay and the learning rate, so the step is `-lr (d + weight_decay W)`.
///
/// Shards are updated one at a time (`update(shard:...)`), so that in a distributed job each
/// rank updates exactly the shards it owns.
public final class Optimizer {
    /// The settings, validated by the initializer.
    public let config: OptimizerConfig
    /// The shards; the `shard:` index of every method is a position in this array.
    public let shards: [ParameterInfo]
    /// The schedule's horizon.
    public let totalSteps: Int
    /// Seconds spent in the optimizer since it was made or since the last `takeTimings()`.
    public private(set) var timings = OptimizerTimings()

    private let recipe: OptimizerRecipe
    private var chains: [[any TensorTransform]?]
    /// The chain again, where every stage is elementwise: such shards are updated block by block.
    private var elementwiseChains: [[any ElementwiseTransform]?]
    private var gradients: [Matrix<Float>?]
    private var directions: [Matrix<Float>?]

    /// Prepares the optimizer for `shards`. A shard's chain and state are created on first use,
    /// so that in a distributed job a rank holds state only for the shards it owns.
    /// `globalBatch` sizes the optional sqrt(batch) curvature scaling.
    public init(config: OptimizerConfig, shards: [ParameterInfo], totalSteps: Int, globalBatch: Int) throws(OptimizerError) {
        if let problem = config.validationError() { throw OptimizerError("optimizer: \(problem)") }
        self.config = config
        self.shards = shards
        self.totalSteps = totalSteps
        recipe = OptimizerRecipe(config: config, totalSteps: totalSteps, globalBatch: globalBatch)
        chains = Array(repeating: nil, count: shards.count)
        elementwiseChains = Array(repeating: nil, count: shards.count)
        gradients = Array(repeating: nil, count: shards.count)
        directions = Array(repeating: nil, count: shards.count)
    }

    /// The chain of shard `index`, created with fresh state on first use.
    private func chain(_ index: Int) -> [any TensorTransform] {
        if let chain = chains[index] { return chain }
        let shard = shards[index]
        let chain = recipe.chain(for: shard)
        chains[index] = chain
        let elementwise = chain.compactMap { $0 as? any ElementwiseTransform }
        if elementwise.count == chain.count {
            elementwiseChains[index] = elementwise
        } else {
            gradients[index] = Matrix(rows: shard.matrixShape.rows, columns: shard.matrixShape.columns)
            directions[index] = gradients[index]
        }
        return chain
    }

    /// Whether shard `index` has state on this rank.
    public func hasState(shard index: Int) -> Bool { chains[index] != nil }

    /// Drops shard `index`'s state (after handing the shard to another rank).
    public func releaseState(shard index: Int) {
        chains[index] = nil
        elementwiseChains[index] = nil
        gradients[index] = nil
        directions[index] = nil
    }

    /// The learning rate at `step`.
    public func learningRate(at step: Int) -> Double {
        config.schedule.rate(base: config.learningRate, step: step, totalSteps: totalSteps)
    }

    /// One step for shard `index`: `parameters` are updated in place from `gradient` (the
    /// batch-mean gradient, already reduced across ranks). `factoredGradient`, if given, is that
    /// same gradient as a linear layer's `dY^T X`, for the preconditioner to multiply through
    /// (`FactoredGradient.costsLess`).
    public func update(
        shard index: Int, parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>,
        factoredGradient: FactoredGradient<Float>? = nil, step: Int
    ) throws(OptimizerError) {
        let shard = shards[index]
        precondition(parameters.count == shard.count && gradient.count == shard.count,
                     "Optimizer.update: \(shard.name) has \(shard.count) elements, got \(parameters.count) and \(gradient.count)")
        let transforms = chain(index)
        if let elementwise = elementwiseChains[index] {
            timed(&timings.otherSeconds) { Self.update(parameters, gradient: gradient, blockByBlock: elementwise, step: step) }
            return
        }
        gradients[index]!.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: gradient.baseAddress!, count: gradient.count) }
        directions[index]!.assign(gradients[index]!)
        for (position, transform) in transforms.enumerated() {
            try transform.apply(
                direction: &directions[index]!, gradient: gradients[index]!, factoredGradient: position == 0 ? factoredGradient : nil,
                parameters: UnsafeBufferPointer(parameters), step: step, timings: &timings)
        }
        timed(&timings.otherSeconds) {
            directions[index]!.withUnsafeBufferPointer { change in
                for element in parameters.indices { parameters[element] += change[element] }
            }
        }
    }

    /// Elements per block of `update(_:gradient:blockByBlock:step:)`: 16 KiB of direction, which
    /// stays in the L1 cache while every stage passes over it.
    static let blockElements = 4096

    /// One step of a chain of elementwise stages, block by block: each block of the direction
    /// starts as the gradient (the first stage reads the gradient itself), goes through every
    /// stage while it is in cache, and is added to the parameters, by the last stage in its own
    /// pass (`applyUpdating`) with a final uniform scale (the learning rate) folded in; the
    /// blocks are spread over the cores. Each element sees the same operations in the same order
    /// as through the stages' whole-shard `apply`, so the result is the same.
    private static func update(
        _ parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>,
        blockByBlock chain: [any ElementwiseTransform], step: Int
    ) {
        guard let parameterBase = parameters.baseAddress, let gradientBase = gradient.baseAddress else { return }
        let scale = chain.last?.uniformScale(step: step)
        let stages = scale == nil ? chain[...] : chain.dropLast()
        ParallelLoop.forEachRange(count: parameters.count) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: blockElements) { block in
                var start = range.lowerBound
                while start < range.upperBound {
                    let elements = start..<min(start + blockElements, range.upperBound)
                    let (values, gradient, direction) = (parameterBase + start, gradientBase + start, block.baseAddress!)
                    if let last = stages.last {
                        var source = gradient
                        for stage in stages.dropLast() {
                            if source == gradient {
                                stage.applyToGradient(elements: elements, direction: direction, gradient: gradient, parameters: values, step: step)
                            } else {
                                stage.apply(elements: elements, direction: direction, gradient: gradient, parameters: values, step: step)
                            }
                            source = UnsafePointer(direction)
                        }
                        last.applyUpdating(
                            elements: elements, source: source, direction: direction, gradient: gradient, parameters: values,
                            scale: scale ?? 1, step: step)
                    } else {
                        let scale = scale ?? 1
                        for index in 0..<elements.count { values[index] += gradient[index] * scale }
                    }
                    start = elements.upperBound
                }
            }
        }
    }

    /// The bytes one step of shard `index` must move at the least: the parameters, the gradient
    /// and every state element read once, the parameters and the state written once (Float32).
    /// What the block-by-block path of elementwise chains moves; other chains move more.
    public func minimumTraffic(shard index: Int) -> Int {
        let stateElements = chain(index).flatMap { $0.stateTensors() }.reduce(0) { $0 + $1.shape.reduce(1, *) }
        return 4 * (3 * shards[index].count + 2 * stateElements)
    }

    /// The explicit state of shard `index`, for checkpoints.
    public func stateTensors(shard index: Int) -> [NamedTensor] {
        chain(index).flatMap { $0.stateTensors() }
    }

    /// Restores shard `index`'s state from `stateTensors(shard:)` output.
    public func restore(shard index: Int, from saved: [NamedTensor]) throws(OptimizerError) {
        let saved = SavedState(saved)
        do {
            for transform in chain(index) { try transform.restore(saved) }
        } catch {
            throw OptimizerError("\(shards[index].name): \(error)")
        }
    }

    /// Health of the spectral factors of shard `index` (measured).
    public func health(shard index: Int) -> [(name: String, health: FactorHealth)] {
        (chains[index] ?? []).flatMap { $0.measureHealth() }
    }

    /// Returns the accumulated timings and starts a new accumulation.
    public func takeTimings() -> OptimizerTimings {
        defer { timings = OptimizerTimings() }
        return timings
    }
}
