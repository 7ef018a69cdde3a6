import Support

/// Everything that shapes one factor's update (ALGORITHM.md sections 2 and 8).
public struct SpectralFactorOptions: Sendable, Equatable {
    /// `beta2`, the step size of the curvature learning (the EMA weight of new curvature).
    public var curvatureLearningRate: Double
    /// `delta` of the gap-damped rotation `K_ij = beta2 Hh_ij (d_j - d_i) / ((d_j - d_i)² + delta d_i d_j)`.
    public var gapDamping: Double
    /// `c` of the step clipping `K <- K min(1, c / ||K||_F)`; nil: no clipping.
    public var rotationClip: Double?
    /// The eigenvalue map.
    public var eigenvalueMap: EigenvalueMap
    /// The eigenvector retraction.
    public var retraction: Retraction
    /// `lambda` of `Hh += lambda I` (curvature damping); 0: none.
    public var curvatureDamping: Double
    /// Updates whose `||B^T B - I||_F` exceeds this are rejected (the previous state is kept).
    public var orthogonalityBound: Double
    /// After this many rejected updates in a row the factor reports a fatal error.
    public var maxConsecutiveFailures: Int

    public init(
        curvatureLearningRate: Double = 0.01,
        gapDamping: Double = 1e-2,
        rotationClip: Double? = 1,
        eigenvalueMap: EigenvalueMap = .linear,
        retraction: Retraction = .standard,
        curvatureDamping: Double = 0,
        orthogonalityBound: Double = 0.1,
        maxConsecutiveFailures: Int = 10
    ) {
        self.curvatureLearningRate = curvatureLearningRate
        self.gapDamping = gapDamping
        self.rotationClip = rotationClip
        self.eigenvalueMap = eigenvalueMap
        self.retraction = retraction
        self.curvatureDamping = curvatureDamping
        self.orthogonalityBound = orthogonalityBound
        self.maxConsecutiveFailures = maxConsecutiveFailures
    }

    /// A problem with the options, naming the field; nil when they are usable.
    public func validationError() -> String? {
        if !(curvatureLearningRate > 0 && curvatureLearningRate <= 1) {
            return "curvatureLearningRate must be in (0, 1], got \(curvatureLearningRate)"
        }
        if !(gapDamping >= 0 && gapDamping.isFinite) { return "gapDamping must be >= 0, got \(gapDamping)" }
        if let rotationClip, !(rotationClip > 0 && rotationClip.isFinite) {
            return "rotationClip must be > 0 (or null for none), got \(rotationClip)"
        }
        if !(curvatureDamping >= 0 && curvatureDamping.isFinite) {
            return "curvatureDamping must be >= 0, got \(curvatureDamping)"
        }
        if !(orthogonalityBound > 0) { return "orthogonalityBound must be > 0, got \(orthogonalityBound)" }
        if maxConsecutiveFailures < 1 { return "maxConsecutiveFailures must be >= 1, got \(maxConsecutiveFailures)" }
        if case .truncated(let order, let steps) = retraction, !(1...8).contains(order) || !(0...8).contains(steps) {
            return "retraction: order must be in 1...8 and Newton-Schulz steps in 0...8"
        }
        return nil
    }
}

extension SpectralFactorOptions: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case curvatureLearningRate, gapDamping, rotationClip, eigenvalueMap, retraction
        case curvatureDamping, orthogonalityBound, maxConsecutiveFailures
    }

    /// Decodes with every field optional (defaults as in `init`); unknown fields are errors.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SpectralFactorOptions()
        self.init(
            curvatureLearningRate: try container.decodeIfPresent(Double.self, forKey: .curvatureLearningRate) ?? defaults.curvatureLearningRate,
            gapDamping: try container.decodeIfPresent(Double.self, forKey: .gapDamping) ?? defaults.gapDamping,
            rotationClip: container.contains(.rotationClip) ? try container.decodeIfPresent(Double.self, forKey: .rotationClip) : defaults.rotationClip,
            eigenvalueMap: try container.decodeIfPresent(EigenvalueMap.self, forKey: .eigenvalueMap) ?? defaults.eigenvalueMap,
            retraction: try container.decodeIfPresent(Retraction.self, forKey: .retraction) ?? defaults.retraction,
            curvatureDamping: try container.decodeIfPresent(Double.self, forKey: .curvatureDamping) ?? defaults.curvatureDamping,
            orthogonalityBound: try container.decodeIfPresent(Double.self, forKey: .orthogonalityBound) ?? defaults.orthogonalityBound,
            maxConsecutiveFailures: try container.decodeIfPresent(Int.self, forKey: .maxConsecutiveFailures) ?? defaults.maxConsecutiveFailures)
        if let problem = validationError() {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }
}
