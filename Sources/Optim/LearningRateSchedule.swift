import Support

/// The learning rate as a function of the step.
public enum LearningRateSchedule: Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// Linear warm-up over `warmupSteps` (step t at `(t + 1) / warmupSteps` of the base rate),
    /// then a cosine decay to `finalFraction` of the base rate at step `totalSteps`.
    case warmupCosine(warmupSteps: Int, finalFraction: Double)

    /// The rate at `step` (0-based) of `totalSteps`.
    public func rate(base: Double, step: Int, totalSteps: Int) -> Double {
        switch self {
        case .constant:
            return base
        case .warmupCosine(let warmup, let final):
            if step < warmup { return base * Double(step + 1) / Double(warmup) }
            let span = max(1, totalSteps - warmup)
            let progress = min(1, Double(step - warmup) / Double(span))
            return base * (final + (1 - final) * 0.5 * (1 + Double.cos(Double.pi * progress)))
        }
    }
}

extension LearningRateSchedule: Codable {
    enum Kind: String, NamedChoice { case constant, warmupCosine }

    /// The fields of `warmupCosine`.
    private struct WarmupCosineFields: ConfigRecord {
        var warmupSteps = 0
        var finalFraction = 0.0

        static let fields: [ConfigField<WarmupCosineFields>] = [
            .init("warmupSteps", \.warmupSteps, .atLeast(0)),
            .init("finalFraction", \.finalFraction, .in(0...1)),
        ]

        static func defaults(given _: GivenFields<WarmupCosineFields>) -> WarmupCosineFields { WarmupCosineFields() }
    }

    /// `{"type": "constant"}` or `{"type": "warmupCosine", "warmupSteps": 100, "finalFraction": 0}`
    /// (`constant` allows and ignores the fields of `warmupCosine`).
    public init(from decoder: any Decoder) throws {
        try TaggedConfig.rejectFields(besides: WarmupCosineFields.self, in: decoder)
        switch try TaggedConfig.type(Kind.self, in: decoder) {
        case .constant:
            self = .constant
        case .warmupCosine:
            let fields = try TaggedConfig.fields(WarmupCosineFields.self, in: decoder)
            self = .warmupCosine(warmupSteps: fields.warmupSteps, finalFraction: fields.finalFraction)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .constant:
            try TaggedConfig.encode(type: Kind.constant, to: encoder)
        case .warmupCosine(let warmup, let final):
            try TaggedConfig.encode(type: Kind.warmupCosine, fields: WarmupCosineFields(warmupSteps: warmup, finalFraction: final), to: encoder)
        }
    }
}

extension LearningRateSchedule: ConfigValueDescribing {
    /// Each type with the record of its fields, as `init(from:)` decodes them.
    package static var configShape: ConfigValueShape {
        .tagged(Kind.allCases.map { kind in
            switch kind {
            case .constant: TaggedChoice(kind.rawValue, note: "allows and ignores the fields of warmupCosine")
            case .warmupCosine: TaggedChoice(kind.rawValue, fields: WarmupCosineFields.self)
            }
        })
    }
}
