import Support

/// `maxFactorDimension` as a configuration writes it: a number, or `"auto"`, which a training run
/// turns into a number for its ranks before anything depends on the blocking (Train's
/// `AutoBlocking`), so that the one large matrix of a model can be split just enough to spread
/// its curvature work.
///
/// A number encodes as a JSON number and `auto` as the string "auto"; decoding anything else is an
/// error naming both forms. The range of a number is the field's rule (`FieldRule.factorDimension`).
public enum FactorDimensionLimit: Sendable, Hashable, Codable, ExpressibleByIntegerLiteral, CustomStringConvertible, ConfigValueDescribing {
    /// Sides longer than this are blocked (or handled diagonally).
    case fixed(Int)
    /// Chosen per run: the largest limit that balances the ranks' curvature work.
    case auto

    /// The default limit, and the largest `auto` chooses (what it chooses on one rank).
    public static let ceiling = 1024
    /// The largest number the field takes: blocking arithmetic (`PreconditionerLayout.split`)
    /// adds the limit to a side, which must not overflow; no factor that large could be held.
    public static let maximum = 1 << 30
    /// The spelling of `auto` in a configuration.
    public static let automaticName = "auto"

    /// What the field takes, as its decoding error words it.
    static let accepted = "an integer in 1...\(maximum) or \"\(automaticName)\""

    package static var configShape: ConfigValueShape { .value(accepted) }

    public init(integerLiteral value: Int) {
        self = .fixed(value)
    }

    /// The number, nil for `auto`.
    public var fixedValue: Int? {
        if case .fixed(let value) = self { value } else { nil }
    }

    /// "392" or "auto".
    public var description: String {
        fixedValue.map(String.init) ?? Self.automaticName
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            self = .fixed(number)
        } else if let text = try? container.decode(String.self), text == Self.automaticName {
            self = .auto
        } else {
            let got: String
            if let text = try? container.decode(String.self) {
                got = "\"\(text.prefix(80))\""
            } else if let number = try? container.decode(Double.self) {
                got = number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
            } else if let flag = try? container.decode(Bool.self) {
                got = "\(flag)"
            } else {
                got = "a value of another type"
            }
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "must be \(Self.accepted), got \(got)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .fixed(let value): try container.encode(value)
        case .auto: try container.encode(Self.automaticName)
        }
    }
}

extension FieldRule where Value == FactorDimensionLimit {
    /// A number in `1...FactorDimensionLimit.maximum`, worded as an integer field's range is
    /// ("must be >= 1, got 0"); `auto` keeps it.
    public static var factorDimension: FieldRule {
        let range = 1...FactorDimensionLimit.maximum
        return FieldRule({ $0.fixedValue.map(range.contains) ?? true }, otherwise: { limit in
            let value = limit.fixedValue ?? 0
            return value < range.lowerBound ? "must be >= \(range.lowerBound), got \(value)" : "must be <= \(range.upperBound), got \(value)"
        })
    }
}
