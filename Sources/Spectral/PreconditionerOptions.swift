import Support

/// How a parameter is preconditioned: Kronecker mode, root, damping, blocking, and the factor
/// update rule.
public struct PreconditionerOptions: ConfigRecord, Sendable, Equatable {
    /// What large dimensions get.
    public enum LargeDimensions: String, NamedChoice {
        /// Split the matrix into blocks no larger than `maxFactorDimension` per side, each with its
        /// own pair of factors (as Distributed Shampoo does).
        case block
        /// Precondition the whole parameter with the diagonal fallback.
        case diagonal
    }

    /// Whether a matrix's factors learn Shampoo's `G G^T` and `G^T G` independently (`shampoo`,
    /// the default) or the determinant-constrained Kronecker projection `alpha (S_R ⊗ S_L)`
    /// (`kl`); it also sets the default `power`.
    public var mode = KroneckerMode.shampoo
    /// `p` of `S^(-1/p)`; any real > 0. Default: `defaultPower(mode)`.
    public var power: Double
    /// `eps` added to eigenvalues before the root.
    public var damping = RootDamping.standard
    /// Sides longer than this are blocked (or handled diagonally): a number, or `auto`, which a
    /// training run resolves to a number for its ranks (Train's `AutoBlocking`).
    public var factorDimensionLimit = FactorDimensionLimit.fixed(FactorDimensionLimit.ceiling)
    /// What a matrix with a side longer than `maxFactorDimension` gets: blocks with factors of
    /// their own (`block`, the default) or the diagonal fallback (`diagonal`).
    public var largeDimensions = LargeDimensions.block
    /// `d0`: fresh factors start at `S = d0 I`.
    public var initialEigenvalue = 1.0
    /// The factor update rule.
    public var factor = SpectralFactorOptions()
    /// How learned matrices are kept between steps: spectral factors' `B`, Eigen-Shampoo's
    /// statistics (`StateDType`).
    public var stateDType = StateDType.float32

    /// The limit in force: `factorDimensionLimit`'s number, or for an `auto` not yet resolved
    /// its ceiling, 1024, which is what `auto` resolves to on one rank. Setting it fixes the limit.
    public var maxFactorDimension: Int {
        get { factorDimensionLimit.fixedValue ?? FactorDimensionLimit.ceiling }
        set { factorDimensionLimit = .fixed(newValue) }
    }

    /// The defaults.
    public init() {
        power = Self.defaultPower(mode)
    }

    /// The options given, the defaults for the rest (`stateDType` Float32); `power` nil:
    /// `defaultPower(mode)`.
    public init(
        mode: KroneckerMode = Self().mode, power: Double? = nil, damping: RootDamping = Self().damping,
        maxFactorDimension: FactorDimensionLimit = Self().factorDimensionLimit, largeDimensions: LargeDimensions = Self().largeDimensions,
        initialEigenvalue: Double = Self().initialEigenvalue, factor: SpectralFactorOptions = Self().factor
    ) {
        self.mode = mode
        self.power = power ?? Self.defaultPower(mode)
        self.damping = damping
        self.factorDimensionLimit = maxFactorDimension
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

    public static let fields: [ConfigField<PreconditionerOptions>] = [
        .init("mode", \.mode),
        .init("power", \.power, .above(0).worded("a positive number")),
        .init("damping", \.damping),
        .init("maxFactorDimension", \.factorDimensionLimit, .factorDimension),
        .init("largeDimensions", \.largeDimensions),
        .check(at: \.factorDimensionLimit, summary: "auto needs largeDimensions block") {
            $0.factorDimensionLimit == .auto && $0.largeDimensions == .diagonal
                ? "auto chooses how large matrices are cut into blocks; it needs largeDimensions block, not diagonal" : nil
        },
        .init("initialEigenvalue", \.initialEigenvalue, .above(0)),
        .init("factor", \.factor),
        .init("stateDType", \.stateDType),
    ]

    public static let problemPlacement = ConfigProblemPlacement.object

    /// The defaults of the mode given.
    public static func defaults(given: GivenFields<PreconditionerOptions>) -> PreconditionerOptions {
        given[\.mode].map { PreconditionerOptions(mode: $0) } ?? PreconditionerOptions()
    }
}
