import Spectral
import Support

/// Which optimizer, and all its settings, as a training configuration gives them.
///
/// Fields that do not apply to the chosen `type` are ignored; unknown fields are errors.
public struct OptimizerConfig: ConfigRecord, Sendable, Equatable {
    /// Which optimizer, spelled in the configuration as the case's name.
    public enum Kind: String, NamedChoice {
        /// SGD with (Nesterov) momentum.
        case sgd
        /// Adam with decoupled weight decay.
        case adamw
        /// Shampoo with exact moving averages and roots by eigendecomposition every `rootInterval` steps.
        case eigenShampoo
        /// Spectral-factorized curvature: factors updated by truncated-exponential steps, roots free.
        case spectral
    }

    /// How the gradient is scaled before it enters a curvature update.
    public enum CurvatureGradientScale: String, NamedChoice {
        /// Unscaled.
        case none
        /// By sqrt(global batch size): the curvature of a batch-mean gradient then matches a
        /// per-sample scale.
        case sqrtBatch
    }

    /// The optimizer (`type`, required).
    public var type: Kind
    /// Default: 0.05 for `sgd`, 1e-3 for the others.
    public var learningRate: Double
    /// How the learning rate varies over training (`schedule`, default `constant`).
    public var schedule = LearningRateSchedule.constant
    /// Default: 0 for `adamw`, 0.9 for the others.
    public var momentum: Double
    /// PyTorch's dampening: `v <- momentum v + (1 - dampening) d`. Equal to `momentum`, v is a
    /// moving average and the step keeps the direction's scale (as Adam's first moment does).
    public var momentumDampening = 0.0
    /// Whether momentum takes Nesterov's form `d + momentum v` (`nesterov`, default false).
    public var nesterov = false
    /// Decoupled weight decay `wd`, the step becoming `-lr (d + wd W)` (`weightDecay`, at least 0,
    /// default 0); matrices only unless `decayVectors`.
    public var weightDecay = 0.0
    /// Whether weight decay also applies to vectors (biases, norms).
    public var decayVectors = false
    /// `adamw`'s first-moment decay (`beta1`, in [0, 1), default 0.9).
    public var beta1 = 0.9
    /// `adamw`'s second-moment decay (`beta2`, in [0, 1), default 0.999); the preconditioners'
    /// curvature rate is `preconditioner.factor.curvatureLearningRate` instead.
    public var beta2 = 0.999
    /// `adamw`'s `eps`, added to `sqrt(v̂)` before dividing (`epsilon`, above 0, default 1e-8).
    public var epsilon = 1e-8
    /// The preconditioner (`spectral` and `eigenShampoo`).
    public var preconditioner = PreconditionerOptions()
    /// Spectral factor updates every this many steps (factors up to
    /// `curvatureReferenceDimension`; `CurvatureSchedule`).
    public var curvatureInterval = 1
    /// `D`: larger factors update every `curvatureInterval * 2^round(log2((k / D)³))` steps; nil:
    /// every factor every `curvatureInterval` steps (docs/benchmarks.md, "Spectral step").
    public var curvatureReferenceDimension: Int? = 128
    /// The longest interval the reference dimension gives (rounded down to `curvatureInterval * 2^j`).
    public var maxCurvatureInterval = 64
    /// `W`: intervals grow to their settled value by doubling, W steps at the base interval
    /// first, then about W updates per doubling; 0: settled from the start.
    public var curvatureWarmupSteps = 8
    /// The curvature learning rate of a factor updated every T steps: `fixed` (beta2) or
    /// `compounded` (1 - (1 - beta2)^T).
    public var curvatureRateScaling = CurvatureSchedule.RateScaling.compounded
    /// Eigen-Shampoo root recomputation every this many steps.
    public var rootInterval = 10
    /// `spectral` and `eigenShampoo`: whose step's norm the preconditioned direction takes
    /// (`grafting`: `none`, `sgd` or `adam`, default `adam`).
    public var grafting = Grafting.Kind.adam
    /// The `adam` graft's second-moment decay (`graftingBeta2`, in [0, 1), default 0.999).
    public var graftingBeta2 = 0.999
    /// The `adam` graft's `eps` (`graftingEpsilon`, above 0, default 1e-8).
    public var graftingEpsilon = 1e-8
    /// How the gradient is scaled before curvature updates (`curvatureGradientScale`: `none` or
    /// `sqrtBatch`, default `none`).
    public var curvatureGradientScale = CurvatureGradientScale.none
    /// Spectral: on one rank, a linear layer's preconditioner multiplies through the gradient's
    /// thin factors `dY^T X` where that costs less (`multipliesThroughFactors(of:rows:)`); the
    /// same arithmetic up to rounding.
    public var factoredGradients = true

    /// Defaults for `type` (ALGORITHM.md section 8 for the preconditioned ones).
    public init(type: Kind) {
        self.type = type
        learningRate = type == .sgd ? 0.05 : 1e-3
        momentum = type == .adamw ? 0 : 0.9
    }

    public static let fields: [ConfigField<OptimizerConfig>] = [
        .required("type", \.type),
        .init("learningRate", \.learningRate, .above(0)),
        .init("schedule", \.schedule),
        .init("momentum", \.momentum, .in(0..<1)),
        .init("momentumDampening", \.momentumDampening, .in(0..<1)),
        .init("nesterov", \.nesterov),
        .init("weightDecay", \.weightDecay, .atLeast(0)),
        .init("decayVectors", \.decayVectors),
        .init("beta1", \.beta1, .in(0..<1)),
        .init("beta2", \.beta2, .in(0..<1)),
        .init("epsilon", \.epsilon, .above(0)),
        .init("preconditioner", \.preconditioner),
        .init("curvatureInterval", \.curvatureInterval, .within(1...1_000_000)),
        .init("curvatureReferenceDimension", \.curvatureReferenceDimension, .within(1...1_000_000)),
        .init("maxCurvatureInterval", \.maxCurvatureInterval, .within(1...1_000_000)),
        .init("curvatureWarmupSteps", \.curvatureWarmupSteps, .within(0...1_000_000_000)),
        .init("curvatureRateScaling", \.curvatureRateScaling),
        .init("rootInterval", \.rootInterval, .atLeast(1)),
        .init("grafting", \.grafting),
        .init("graftingBeta2", \.graftingBeta2, .in(0..<1)),
        .init("graftingEpsilon", \.graftingEpsilon, .above(0)),
        .init("curvatureGradientScale", \.curvatureGradientScale),
        .init("factoredGradients", \.factoredGradients),
    ]

    public static let problemPlacement = ConfigProblemPlacement.object

    /// When each spectral factor is updated.
    public var curvatureSchedule: CurvatureSchedule {
        CurvatureSchedule(
            baseInterval: curvatureInterval, referenceDimension: curvatureReferenceDimension,
            maxInterval: maxCurvatureInterval, warmupSteps: curvatureWarmupSteps, rateScaling: curvatureRateScaling,
            curvatureLearningRate: preconditioner.factor.curvatureLearningRate)
    }

    /// The defaults of the type given.
    public static func defaults(given: GivenFields<OptimizerConfig>) throws -> OptimizerConfig {
        OptimizerConfig(type: try given.required(\.type))
    }
}
