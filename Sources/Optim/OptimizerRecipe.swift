import Spectral

/// Each optimizer as a named recipe: the chain of transforms a shard's update direction (the
/// gradient at first) passes through, ending as the step that `Optimizer` adds to the
/// parameters. As optax writes `adamw = chain(scale_by_adam, add_decayed_weights,
/// scale_by_learning_rate)`:
///
///     sgd           momentum?, weight decay?, learning rate
///     adamw         Adam scaling, weight decay?, learning rate
///     eigenShampoo  Kronecker preconditioning by eigendecomposition, grafting?, momentum?, weight decay?, learning rate
///     spectral      Kronecker preconditioning by spectral factors, grafting?, momentum?, weight decay?, learning rate
///
/// A stage marked `?` is there when it does something: momentum > 0, grafting other than none,
/// a weight decay > 0 on a matrix (on a vector too with `decayVectors`).
struct OptimizerRecipe {
    let config: OptimizerConfig
    /// The learning-rate schedule's horizon.
    let totalSteps: Int
    /// The gradient is multiplied by this before curvature updates: 1, or sqrt(global batch).
    let curvatureScale: Float
    /// The spectral factors' scratch, shared by every shard of this optimizer (shards are updated
    /// one at a time).
    let workspaces = FactorWorkspacePool<Float>()

    init(config: OptimizerConfig, totalSteps: Int, globalBatch: Int) {
        self.config = config
        self.totalSteps = totalSteps
        curvatureScale = config.curvatureGradientScale == .sqrtBatch ? Float(globalBatch).squareRoot() : 1
    }

    /// The chain of `config.type` for `shard`, with fresh state.
    func chain(for shard: ParameterInfo) -> [any TensorTransform] {
        switch config.type {
        case .sgd: sgd(shard)
        case .adamw: adamw(shard)
        case .eigenShampoo: eigenShampoo(shard)
        case .spectral: spectral(shard)
        }
    }

    func sgd(_ shard: ParameterInfo) -> [any TensorTransform] {
        momentum(shard) + step(shard)
    }

    /// Adam's first moment is its momentum: `momentum` does not apply.
    func adamw(_ shard: ParameterInfo) -> [any TensorTransform] {
        [AdamScaling(count: shard.count, firstMomentDecay: config.beta1, secondMomentDecay: config.beta2, epsilon: config.epsilon)]
            + step(shard)
    }

    func eigenShampoo(_ shard: ParameterInfo) -> [any TensorTransform] {
        preconditioned(shard, method: .eigen)
    }

    func spectral(_ shard: ParameterInfo) -> [any TensorTransform] {
        preconditioned(shard, method: .spectral)
    }

    private func preconditioned(_ shard: ParameterInfo, method: KroneckerPreconditioning.Method) -> [any TensorTransform] {
        let preconditioning = KroneckerPreconditioning(
            method: method, tensor: shard, options: config.preconditioner,
            schedule: config.curvatureSchedule, rootInterval: config.rootInterval, curvatureScale: curvatureScale,
            workspaces: workspaces)
        return [preconditioning] + grafting(shard) + momentum(shard) + step(shard)
    }

    private func grafting(_ shard: ParameterInfo) -> [any TensorTransform] {
        guard config.grafting != .none else { return [] }
        return [Grafting(kind: config.grafting, count: shard.count, secondMomentDecay: config.graftingBeta2, epsilon: config.graftingEpsilon)]
    }

    private func momentum(_ shard: ParameterInfo) -> [any TensorTransform] {
        guard config.momentum > 0 else { return [] }
        return [Momentum(count: shard.count, momentum: config.momentum, dampening: config.momentumDampening, nesterov: config.nesterov)]
    }

    /// Weight decay where it applies, then the learning rate. A zero decay is left out, which
    /// changes no finite result: `d + 0 W` is `d` except for `d = -0` with `W` of positive sign
    /// (then it is +0), and `W + (-lr d)` is that same `W` for either zero.
    private func step(_ shard: ParameterInfo) -> [any TensorTransform] {
        let decays = config.weightDecay > 0 && (shard.isMatrix || config.decayVectors)
        let decay: [any TensorTransform] = decays ? [WeightDecay(decay: config.weightDecay)] : []
        return decay + [LearningRateScaling(schedule: config.schedule, baseRate: config.learningRate, totalSteps: totalSteps)]
    }
}
