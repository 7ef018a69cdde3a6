import Support

/// Everything that shapes one factor's update (ALGORITHM.md sections 2 and 8).
public struct SpectralFactorOptions: ConfigRecord, Sendable, Equatable {
    /// `beta2`, the step size of the curvature learning (the EMA weight of new curvature).
    public var curvatureLearningRate = 0.01
    /// `delta` of the gap-damped rotation `K_ij = beta2 Hh_ij (d_j - d_i) / ((d_j - d_i)² + delta d_i d_j)`.
    public var gapDamping = 1e-2
    /// `c` of the step clipping `K <- K min(1, c / ||K||_F)`; nil: no clipping.
    public var rotationClip: Double? = 1
    /// The eigenvalue map.
    public var eigenvalueMap = EigenvalueMap.linear
    /// The eigenvector retraction.
    public var retraction = Retraction.standard
    /// The Newton-Schulz gate of `trunc2` (`NewtonSchulzGate`): the polar step runs only when the
    /// running bound on `||B^T B - I||_F` would pass this (a Float32 figure; Float64 factors scale
    /// it by the ratio of unit roundoffs); nil: on every update. Other retractions ignore it.
    public var newtonSchulzTolerance: Double? = 1e-4
    /// `lambda` of `Hh += lambda I` (curvature damping); 0: none.
    public var curvatureDamping = 0.0
    /// Updates whose `||B^T B - I||_F` exceeds this are rejected (the previous state is kept).
    public var orthogonalityBound = 0.1
    /// After this many rejected updates in a row the factor reports a fatal error.
    public var maxConsecutiveFailures = 10

    /// The defaults (ALGORITHM.md section 8).
    public init() {}

    /// The options given, the defaults for the rest; `validationError()` names a value out of
    /// range.
    public init(
        curvatureLearningRate: Double = Self().curvatureLearningRate,
        gapDamping: Double = Self().gapDamping,
        rotationClip: Double? = Self().rotationClip,
        eigenvalueMap: EigenvalueMap = Self().eigenvalueMap,
        retraction: Retraction = Self().retraction,
        newtonSchulzTolerance: Double? = Self().newtonSchulzTolerance,
        curvatureDamping: Double = Self().curvatureDamping,
        orthogonalityBound: Double = Self().orthogonalityBound,
        maxConsecutiveFailures: Int = Self().maxConsecutiveFailures
    ) {
        self.curvatureLearningRate = curvatureLearningRate
        self.gapDamping = gapDamping
        self.rotationClip = rotationClip
        self.eigenvalueMap = eigenvalueMap
        self.retraction = retraction
        self.newtonSchulzTolerance = newtonSchulzTolerance
        self.curvatureDamping = curvatureDamping
        self.orthogonalityBound = orthogonalityBound
        self.maxConsecutiveFailures = maxConsecutiveFailures
    }

    public static let fields: [ConfigField<SpectralFactorOptions>] = [
        .init("curvatureLearningRate", \.curvatureLearningRate, .in(0...1, excludingLower: true)),
        .init("gapDamping", \.gapDamping, .atLeast(0)),
        .init("rotationClip", \.rotationClip, .above(0).worded("> 0 (or null for none)")),
        .init("eigenvalueMap", \.eigenvalueMap),
        .init("retraction", \.retraction),
        .init("newtonSchulzTolerance", \.newtonSchulzTolerance, .in(0...0.1, excludingLower: true).worded("in (0, 0.1] (or null: a polar step on every update)")),
        .init("curvatureDamping", \.curvatureDamping, .atLeast(0)),
        // Infinity is allowed: no bound.
        .init("orthogonalityBound", \.orthogonalityBound, .mustBe("> 0") { $0 > 0 }),
        .init("maxConsecutiveFailures", \.maxConsecutiveFailures, .atLeast(1)),
        .check(summary: "a trunc retraction's order in 1...8 and Newton-Schulz steps in 0...8") { options in
            guard case .truncated(let order, let steps) = options.retraction, !(1...8).contains(order) || !(0...8).contains(steps) else { return nil }
            return "retraction: order must be in 1...8 and Newton-Schulz steps in 0...8"
        },
    ]

    public static let problemPlacement = ConfigProblemPlacement.object

    public static func defaults(given _: GivenFields<SpectralFactorOptions>) -> SpectralFactorOptions { SpectralFactorOptions() }
}
