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
public struct AdaptationOptions: ConfigRecord, Sendable, Equatable {
    public var method = AdaptationMethod.spectral
    /// Samples per iteration; nil: `4 + floor(3 ln n)`.
    public var populationSize: Int?
    /// `eta_mu`.
    public var meanLearningRate = 1.0
    /// `eta_S`; nil: `(9 + 3 ln n) / (5 n^1.5)`.
    public var covarianceLearningRate: Double?
    /// The start: `S0 = I / sigma0²`, so samples spread `sigma0` around the mean.
    public var initialStepSize = 1.0
    /// `delta`, the eigenvalue map and the retraction of the spectral step (unused by `xnes`).
    public var gapDamping = 1e-2
    public var eigenvalueMap = EigenvalueMap.exp
    public var retraction = Retraction.cayley

    /// The defaults (as in xNES).
    public init() {}

    public init(
        method: AdaptationMethod = Self().method, populationSize: Int? = Self().populationSize,
        meanLearningRate: Double = Self().meanLearningRate, covarianceLearningRate: Double? = Self().covarianceLearningRate,
        initialStepSize: Double = Self().initialStepSize, gapDamping: Double = Self().gapDamping,
        eigenvalueMap: EigenvalueMap = Self().eigenvalueMap, retraction: Retraction = Self().retraction
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

    public static let fields: [ConfigField<AdaptationOptions>] = [
        .init("method", \.method),
        .init("populationSize", \.populationSize, .in(4...100_000)),
        .init("meanLearningRate", \.meanLearningRate, .in(0...10, excludingLower: true)),
        .init("covarianceLearningRate", \.covarianceLearningRate, .in(0...1, excludingLower: true)),
        .init("initialStepSize", \.initialStepSize, .above(0)),
        .init("gapDamping", \.gapDamping, .above(0)),
        .init("eigenvalueMap", \.eigenvalueMap),
        .init("retraction", \.retraction),
    ]

    public static func defaults(given _: GivenFields<AdaptationOptions>) -> AdaptationOptions { AdaptationOptions() }

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
