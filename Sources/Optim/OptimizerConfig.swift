import Spectral
import Support

/// Which optimizer, and all its settings, as a training configuration gives them.
///
/// Fields that do not apply to the chosen `type` are ignored; unknown fields are errors.
public struct OptimizerConfig: Sendable, Equatable {
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
        case none
        /// By sqrt(global batch size): the curvature of a batch-mean gradient then matches a
        /// per-sample scale.
        case sqrtBatch
    }

    public var type: Kind
    public var learningRate: Double
    public var schedule: LearningRateSchedule
    public var momentum: Double
    /// PyTorch's dampening: `v <- momentum v + (1 - dampening) d`. Equal to `momentum`, v is a
    /// moving average and the step keeps the direction's scale (as Adam's first moment does).
    public var momentumDampening: Double
    public var nesterov: Bool
    public var weightDecay: Double
    /// Whether weight decay also applies to vectors (biases, norms).
    public var decayVectors: Bool
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// The preconditioner (`spectral` and `eigenShampoo`).
    public var preconditioner: PreconditionerOptions
    /// Spectral factor updates every this many steps.
    public var curvatureInterval: Int
    /// Eigen-Shampoo root recomputation every this many steps.
    public var rootInterval: Int
    public var grafting: Grafting.Kind
    public var graftingBeta2: Double
    public var graftingEpsilon: Double
    public var curvatureGradientScale: CurvatureGradientScale

    /// Defaults for `type` (ALGORITHM.md section 8 for the preconditioned ones).
    public init(type: Kind) {
        self.type = type
        learningRate = type == .sgd ? 0.05 : 1e-3
        schedule = .constant
        momentum = type == .adamw ? 0 : 0.9
        momentumDampening = 0
        nesterov = false
        weightDecay = 0
        decayVectors = false
        beta1 = 0.9
        beta2 = 0.999
        epsilon = 1e-8
        preconditioner = PreconditionerOptions(mode: .shampoo)
        curvatureInterval = 1
        rootInterval = 10
        grafting = .adam
        graftingBeta2 = 0.999
        graftingEpsilon = 1e-8
        curvatureGradientScale = .none
    }

    /// A problem with the settings, naming the field; nil when they are usable.
    public func validationError() -> String? {
        if !(learningRate > 0 && learningRate.isFinite) { return "learningRate must be > 0, got \(learningRate)" }
        if !(momentum >= 0 && momentum < 1) { return "momentum must be in [0, 1), got \(momentum)" }
        if !(momentumDampening >= 0 && momentumDampening < 1) { return "momentumDampening must be in [0, 1), got \(momentumDampening)" }
        if !(weightDecay >= 0 && weightDecay.isFinite) { return "weightDecay must be >= 0, got \(weightDecay)" }
        for (name, value) in [("beta1", beta1), ("beta2", beta2), ("graftingBeta2", graftingBeta2)] where !(value >= 0 && value < 1) {
            return "\(name) must be in [0, 1), got \(value)"
        }
        for (name, value) in [("epsilon", epsilon), ("graftingEpsilon", graftingEpsilon)] where !(value > 0 && value.isFinite) {
            return "\(name) must be > 0, got \(value)"
        }
        if curvatureInterval < 1 { return "curvatureInterval must be >= 1, got \(curvatureInterval)" }
        if rootInterval < 1 { return "rootInterval must be >= 1, got \(rootInterval)" }
        return preconditioner.validationError().map { "preconditioner.\($0)" }
    }
}

extension OptimizerConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, learningRate, schedule, momentum, momentumDampening, nesterov, weightDecay, decayVectors, beta1, beta2, epsilon
        case preconditioner, curvatureInterval, rootInterval, grafting, graftingBeta2, graftingEpsilon, curvatureGradientScale
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(type: try container.decode(Kind.self, forKey: .type))
        func field<Value: Decodable>(_ key: CodingKeys, _ value: inout Value) throws {
            if let decoded = try container.decodeIfPresent(Value.self, forKey: key) { value = decoded }
        }
        try field(.learningRate, &learningRate)
        try field(.schedule, &schedule)
        try field(.momentum, &momentum)
        try field(.momentumDampening, &momentumDampening)
        try field(.nesterov, &nesterov)
        try field(.weightDecay, &weightDecay)
        try field(.decayVectors, &decayVectors)
        try field(.beta1, &beta1)
        try field(.beta2, &beta2)
        try field(.epsilon, &epsilon)
        try field(.preconditioner, &preconditioner)
        try field(.curvatureInterval, &curvatureInterval)
        try field(.rootInterval, &rootInterval)
        try field(.grafting, &grafting)
        try field(.graftingBeta2, &graftingBeta2)
        try field(.graftingEpsilon, &graftingEpsilon)
        try field(.curvatureGradientScale, &curvatureGradientScale)
        if let problem = validationError() {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }
}
