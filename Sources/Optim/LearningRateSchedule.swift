import Support

/// The learning rate as a function of the step.
public enum LearningRateSchedule: Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// Linear warm-up from 0 over `warmupSteps`, then a cosine decay to `finalFraction` of the
    /// base rate at the last step of training.
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

extension LearningRateSchedule: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable { case type, warmupSteps, finalFraction }

    enum Kind: String, NamedChoice { case constant, warmupCosine }

    /// `{"type": "constant"}` or `{"type": "warmupCosine", "warmupSteps": 100, "finalFraction": 0}`.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .type) {
        case .constant:
            self = .constant
        case .warmupCosine:
            let warmup = try container.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0
            let final = try container.decodeIfPresent(Double.self, forKey: .finalFraction) ?? 0
            guard warmup >= 0 else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.warmupSteps], debugDescription: "must be >= 0, got \(warmup)"))
            }
            guard final >= 0 && final <= 1 else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.finalFraction], debugDescription: "must be in [0, 1], got \(final)"))
            }
            self = .warmupCosine(warmupSteps: warmup, finalFraction: final)
        }
    }
}

extension LearningRateSchedule: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .constant:
            try container.encode(Kind.constant, forKey: .type)
        case .warmupCosine(let warmup, let final):
            try container.encode(Kind.warmupCosine, forKey: .type)
            try container.encode(warmup, forKey: .warmupSteps)
            try container.encode(final, forKey: .finalFraction)
        }
    }
}
