import Support

/// How a parameter is preconditioned: Kronecker mode, root, damping, blocking, and the factor
/// update rule.
public struct PreconditionerOptions: Sendable, Equatable {
    /// What large dimensions get.
    public enum LargeDimensions: String, NamedChoice {
        /// Split the matrix into blocks no larger than `maxFactorDimension` per side, each with its
        /// own pair of factors (as Distributed Shampoo does).
        case block
        /// Precondition the whole parameter with the diagonal fallback.
        case diagonal
    }

    public var mode: KroneckerMode
    /// `p` of `S^(-1/p)`; any real > 0. Default: 4 in `shampoo` mode, 2 in `kl` mode.
    public var power: Double
    /// `eps` added to eigenvalues before the root.
    public var damping: RootDamping
    /// Sides longer than this are blocked (or handled diagonally).
    public var maxFactorDimension: Int
    public var largeDimensions: LargeDimensions
    /// `d0`: fresh factors start at `S = d0 I`.
    public var initialEigenvalue: Double
    /// The factor update rule.
    public var factor: SpectralFactorOptions

    public init(
        mode: KroneckerMode = .shampoo, power: Double? = nil, damping: RootDamping = .standard,
        maxFactorDimension: Int = 1024, largeDimensions: LargeDimensions = .block,
        initialEigenvalue: Double = 1, factor: SpectralFactorOptions = .init()
    ) {
        self.mode = mode
        self.power = power ?? Self.defaultPower(mode)
        self.damping = damping
        self.maxFactorDimension = maxFactorDimension
        self.largeDimensions = largeDimensions
        self.initialEigenvalue = initialEigenvalue
        self.factor = factor
    }

    /// 4 for `shampoo` (Shampoo's `G^(-1/4)` on each side), 2 for `kl`.
    public static func defaultPower(_ mode: KroneckerMode) -> Double { mode == .shampoo ? 4 : 2 }

    /// The exponent of the diagonal fallback, `(s + eps)^(-exponent)`: the overall exponent of the
    /// matrix preconditioner, `2/p` in `shampoo` mode (two sides) and `1/p` in `kl` mode; both
    /// are 1/2 (Adam) at the default `p`.
    public var diagonalExponent: Double { mode == .shampoo ? 2 / power : 1 / power }

    /// A problem with the options, naming the field; nil when they are usable.
    public func validationError() -> String? {
        if !(power > 0 && power.isFinite) { return "power must be a positive number, got \(power)" }
        if maxFactorDimension < 1 { return "maxFactorDimension must be >= 1, got \(maxFactorDimension)" }
        if !(initialEigenvalue > 0 && initialEigenvalue.isFinite) {
            return "initialEigenvalue must be > 0, got \(initialEigenvalue)"
        }
        return factor.validationError().map { "factor.\($0)" }
    }
}

extension PreconditionerOptions: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, power, damping, maxFactorDimension, largeDimensions, initialEigenvalue, factor
    }

    /// Every field optional (defaults as in `init`); unknown fields are errors.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let mode = try container.decodeIfPresent(KroneckerMode.self, forKey: .mode) ?? .shampoo
        let defaults = PreconditionerOptions(mode: mode)
        self.init(
            mode: mode,
            power: try container.decodeIfPresent(Double.self, forKey: .power),
            damping: try container.decodeIfPresent(RootDamping.self, forKey: .damping) ?? defaults.damping,
            maxFactorDimension: try container.decodeIfPresent(Int.self, forKey: .maxFactorDimension) ?? defaults.maxFactorDimension,
            largeDimensions: try container.decodeIfPresent(LargeDimensions.self, forKey: .largeDimensions) ?? defaults.largeDimensions,
            initialEigenvalue: try container.decodeIfPresent(Double.self, forKey: .initialEigenvalue) ?? defaults.initialEigenvalue,
            factor: try container.decodeIfPresent(SpectralFactorOptions.self, forKey: .factor) ?? defaults.factor)
        if let problem = validationError() {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }
}
