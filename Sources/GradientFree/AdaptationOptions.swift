import Foundation
import Spectral
import Support

/// How the search distribution's covariance moves.
public enum AdaptationMethod: String, NamedChoice {
    /// The spectral step on the precision `S = B Diag(d) Bᵀ`: matmul-only, no decomposition
    /// (ALGORITHM.md section 6).
    case spectral
    /// Exact xNES: the covariance factor `A <- A expm(eta_S M / 2)`, one eigendecomposition per
    /// iteration. The reference the spectral step is measured against.
    case xnes
}

/// Settings of one covariance adaptation run (ALGORITHM.md section 6; defaults as in xNES).
public struct AdaptationOptions: Sendable, Equatable {
    public var method: AdaptationMethod
    /// Samples per iteration; nil: `4 + floor(3 ln n)`.
    public var populationSize: Int?
    /// `eta_mu`.
    public var meanLearningRate: Double
    /// `eta_S`; nil: `(9 + 3 ln n) / (5 n^1.5)`.
    public var covarianceLearningRate: Double?
    /// The start: `S0 = I / sigma0²`, so samples spread `sigma0` around the mean.
    public var initialStepSize: Double
    /// `delta`, the eigenvalue map and the retraction of the spectral step (unused by `xnes`).
    public var gapDamping: Double
    public var eigenvalueMap: EigenvalueMap
    public var retraction: Retraction

    public init(
        method: AdaptationMethod = .spectral, populationSize: Int? = nil, meanLearningRate: Double = 1,
        covarianceLearningRate: Double? = nil, initialStepSize: Double = 1, gapDamping: Double = 1e-2,
        eigenvalueMap: EigenvalueMap = .exp, retraction: Retraction = .cayley
    ) {
        self.method = method
        self.populationSize = populationSize
        self.meanLearningRate = meanLearningRate
        self.covarianceLearningRate = covarianceLearningRate
        self.initialStepSize = initialStepSize
        self.gapDamping = gapDamping
        self.eigenvalueMap = eigenvalueMap
        self.retraction = retraction
    }

    /// `N = 4 + floor(3 ln n)` unless set.
    public func population(dimension: Int) -> Int {
        populationSize ?? 4 + Int(3 * Foundation.log(Double(dimension)))
    }

    /// `eta_S = (9 + 3 ln n) / (5 n^1.5)` unless set.
    public func covarianceRate(dimension: Int) -> Double {
        let n = Double(dimension)
        return covarianceLearningRate ?? (9 + 3 * Foundation.log(n)) / (5 * n * n.squareRoot())
    }
}

extension AdaptationOptions: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case method, populationSize, meanLearningRate, covarianceLearningRate, initialStepSize, gapDamping, eigenvalueMap, retraction
    }

    /// Every field optional (defaults as in `init`); unknown fields and values out of range are
    /// errors naming the field.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AdaptationOptions()
        self.init(
            method: try container.decodeIfPresent(AdaptationMethod.self, forKey: .method) ?? defaults.method,
            populationSize: try container.decodeIfPresent(Int.self, forKey: .populationSize),
            meanLearningRate: try container.decodeIfPresent(Double.self, forKey: .meanLearningRate) ?? defaults.meanLearningRate,
            covarianceLearningRate: try container.decodeIfPresent(Double.self, forKey: .covarianceLearningRate),
            initialStepSize: try container.decodeIfPresent(Double.self, forKey: .initialStepSize) ?? defaults.initialStepSize,
            gapDamping: try container.decodeIfPresent(Double.self, forKey: .gapDamping) ?? defaults.gapDamping,
            eigenvalueMap: try container.decodeIfPresent(EigenvalueMap.self, forKey: .eigenvalueMap) ?? defaults.eigenvalueMap,
            retraction: try container.decodeIfPresent(Retraction.self, forKey: .retraction) ?? defaults.retraction)
        if let populationSize {
            try requireField(populationSize >= 4 && populationSize <= 100_000, decoder, CodingKeys.populationSize, "must be in 4...100000, got \(populationSize)")
        }
        try requireField(meanLearningRate > 0 && meanLearningRate <= 10, decoder, CodingKeys.meanLearningRate, "must be in (0, 10], got \(meanLearningRate)")
        if let covarianceLearningRate {
            try requireField(covarianceLearningRate > 0 && covarianceLearningRate <= 1, decoder, CodingKeys.covarianceLearningRate,
                             "must be in (0, 1], got \(covarianceLearningRate)")
        }
        try requireField(initialStepSize > 0 && initialStepSize.isFinite, decoder, CodingKeys.initialStepSize, "must be > 0, got \(initialStepSize)")
        try requireField(gapDamping > 0 && gapDamping.isFinite, decoder, CodingKeys.gapDamping, "must be > 0, got \(gapDamping)")
    }
}
