import Linalg
import Spectral

/// An optimizer over named parameter tensors: for each tensor a chain of transformations (its
/// explicit state) followed by the update `W <- W - lr (d + weight_decay W)`.
///
/// Chains by type:
///
///     sgd           momentum
///     adamw         adam scaling                                   (+ decoupled weight decay)
///     eigenShampoo  Kronecker preconditioning by eigendecomposition, grafting, momentum
///     spectral      Kronecker preconditioning by spectral factors, grafting, momentum
///
/// Tensors are updated one at a time (`update(tensor:...)`), so that in a distributed job each
/// rank updates exactly the tensors it owns.
public final class Optimizer {
    public let config: OptimizerConfig
    public let tensors: [ParameterInfo]
    /// The schedule's horizon.
    public let totalSteps: Int
    public private(set) var timings = OptimizerTimings()

    private var chains: [[any TensorTransform]?]
    private var gradients: [Matrix<Float>?]
    private var directions: [Matrix<Float>?]
    private let curvatureScale: Float

    /// Prepares the optimizer for `tensors`. A tensor's chain and state are created on first use,
    /// so that in a distributed job a rank holds state only for the tensors it owns.
    /// `globalBatch` sizes the optional sqrt(batch) curvature scaling.
    public init(config: OptimizerConfig, tensors: [ParameterInfo], totalSteps: Int, globalBatch: Int) throws(OptimizerError) {
        if let problem = config.validationError() { throw OptimizerError("optimizer: \(problem)") }
        self.config = config
        self.tensors = tensors
        self.totalSteps = totalSteps
        curvatureScale = config.curvatureGradientScale == .sqrtBatch ? Float(globalBatch).squareRoot() : 1
        chains = Array(repeating: nil, count: tensors.count)
        gradients = Array(repeating: nil, count: tensors.count)
        directions = Array(repeating: nil, count: tensors.count)
    }

    /// The chain of tensor `index`, created with fresh state on first use.
    private func chain(_ index: Int) -> [any TensorTransform] {
        if let chain = chains[index] { return chain }
        let tensor = tensors[index]
        var chain: [any TensorTransform] = []
        let count = tensor.count
        switch config.type {
        case .sgd:
            break
        case .adamw:
            chain.append(AdamScaling(count: count, firstMomentDecay: config.beta1, secondMomentDecay: config.beta2, epsilon: config.epsilon, owner: tensor.name))
        case .eigenShampoo, .spectral:
            chain.append(KroneckerPreconditioning(
                method: config.type == .spectral ? .spectral : .eigen, tensor: tensor, options: config.preconditioner,
                curvatureInterval: config.curvatureInterval, rootInterval: config.rootInterval, curvatureScale: curvatureScale))
            if config.grafting != .none {
                chain.append(Grafting(kind: config.grafting, count: count, secondMomentDecay: config.graftingBeta2, epsilon: config.graftingEpsilon, owner: tensor.name))
            }
        }
        if config.momentum > 0 && config.type != .adamw {
            chain.append(Momentum(count: count, momentum: config.momentum, dampening: config.momentumDampening, nesterov: config.nesterov, owner: tensor.name))
        }
        chains[index] = chain
        gradients[index] = Matrix(rows: tensor.matrixShape.rows, columns: tensor.matrixShape.columns)
        directions[index] = gradients[index]
        return chain
    }

    /// Whether tensor `index` has state on this rank.
    public func hasState(tensor index: Int) -> Bool { chains[index] != nil }

    /// Drops tensor `index`'s state (after handing the tensor to another rank).
    public func releaseState(tensor index: Int) {
        chains[index] = nil
        gradients[index] = nil
        directions[index] = nil
    }

    /// The learning rate at `step`.
    public func learningRate(at step: Int) -> Double {
        config.schedule.rate(base: config.learningRate, step: step, totalSteps: totalSteps)
    }

    /// One step for tensor `index`: `parameters` are updated in place from `gradient` (the
    /// batch-mean gradient, already reduced across ranks).
    public func update(
        tensor index: Int, parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>, step: Int
    ) throws(OptimizerError) {
        let tensor = tensors[index]
        precondition(parameters.count == tensor.count && gradient.count == tensor.count,
                     "Optimizer.update: \(tensor.name) has \(tensor.count) elements, got \(parameters.count) and \(gradient.count)")
        let transforms = chain(index)
        gradients[index]!.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: gradient.baseAddress!, count: gradient.count) }
        directions[index]!.assign(gradients[index]!)
        for transform in transforms {
            try transform.apply(direction: &directions[index]!, gradient: gradients[index]!, step: step, timings: &timings)
        }
        let rate = Float(learningRate(at: step))
        let decay = tensor.isMatrix || config.decayVectors ? Float(config.weightDecay) : 0
        timed(&timings.otherSeconds) {
            directions[index]!.withUnsafeBufferPointer { direction in
                for element in parameters.indices {
                    parameters[element] -= rate * (direction[element] + decay * parameters[element])
                }
            }
        }
    }

    /// The explicit state of tensor `index`, for checkpoints.
    public func stateTensors(tensor index: Int) -> [NamedTensor] {
        chain(index).flatMap { $0.stateTensors() }
    }

    /// Restores tensor `index`'s state from `stateTensors(tensor:)` output.
    public func restore(tensor index: Int, from saved: [NamedTensor]) throws(OptimizerError) {
        let byName = Dictionary(saved.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for transform in chain(index) { try transform.restore(byName) }
    }

    /// Health of the spectral factors of tensor `index` (measured).
    public func health(tensor index: Int) -> [(name: String, health: FactorHealth)] {
        (chains[index] ?? []).compactMap { $0 as? KroneckerPreconditioning }.flatMap { $0.health() }
    }

    /// Returns the accumulated timings and starts a new accumulation.
    public func takeTimings() -> OptimizerTimings {
        defer { timings = OptimizerTimings() }
        return timings
    }
}
