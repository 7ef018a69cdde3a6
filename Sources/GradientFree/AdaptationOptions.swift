import Foundation
import Spectral
import Support

/// How the search distribution's covariance moves.
public enum AdaptationMethod: String, NamedChoice {
    /// CMA-ES (weighted recombination, step-size and covariance paths, rank-one and active
    /// rank-mu updates) with `C = B Diag(d) Bᵀ` moved by the spectral step (`CMASearch`).
    case cma
    /// CMA-ES with `C` updated exactly and decomposed every iteration (one eigendecomposition
    /// each): the reference `cma`'s spectral step is measured against, as `xnes` is for `spectral`.
    case cmaExact
    /// The xNES form of the spectral step on the precision `S = B Diag(d) Bᵀ`: matmul-only, no decomposition
    /// (ALGORITHM.md section 6).
    case spectral
    /// Exact xNES: the covariance factor `A <- A expm(eta_S M / 2)`, one eigendecomposition per
    /// iteration. The reference the spectral step is measured against.
    case xnes
}

/// Settings of one covariance adaptation run (ALGORITHM.md section 6; CMA-ES's and xNES's defaults).
public struct AdaptationOptions: ConfigRecord, Sendable, Equatable {
    /// Which search (`cma`, `cmaExact`, `spectral` or `xnes`; default `cma`).
    public var method = AdaptationMethod.cma
    /// Samples per iteration; nil: `4 + floor(3 ln n)`.
    public var populationSize: Int?
    /// `eta_mu`, the fraction of the utility-weighted step the mean takes (`spectral`, `xnes`;
    /// in (0, 10], default 1).
    public var meanLearningRate = 1.0
    /// `eta_S` of `spectral` and `xnes`; nil: `(9 + 3 ln n) / (5 n^1.5)`. (`cma` has its own rates.)
    public var covarianceLearningRate: Double?
    /// `sigma0_i`: samples start spread `sigma0_i` around the mean along coordinate i, one number
    /// for all or one per coordinate (`S0 = Diag(1 / sigma0_i²)`; `cma`: step size
    /// `sigma0 = max sigma0_i` and `C0 = Diag((sigma0_i / sigma0)²)`, as pycma's `CMA_stds`).
    public var initialStepSize = PerCoordinate.uniform(1)
    /// `delta`, the gap damping of the spectral step's rotation (`cma`, `spectral`; above 0);
    /// nil: `effectiveGapDamping(for:)`.
    public var gapDamping: Double?
    /// How the spectral step moves the eigenvalues (`cma`, `spectral`; default `exp`).
    public var eigenvalueMap = EigenvalueMap.exp
    /// How the spectral step moves the eigenvectors (`cma`, `spectral`); nil:
    /// `effectiveRetraction(for:)`.
    public var retraction: Retraction?
    /// `cma`: the basis `B` rotates every this many iterations, the rotation accumulated in the
    /// current basis meanwhile (eigenvalues move every iteration); nil: `basisInterval(parameters:)`.
    public var basisUpdateInterval: Int?

    /// The defaults: `cma`, with every nil setting derived from the dimension or the method.
    public init() {}

    /// Options with the settings given and the defaults for the rest.
    public init(
        method: AdaptationMethod = Self().method, populationSize: Int? = Self().populationSize,
        meanLearningRate: Double = Self().meanLearningRate, covarianceLearningRate: Double? = Self().covarianceLearningRate,
        initialStepSize: PerCoordinate = Self().initialStepSize, gapDamping: Double? = Self().gapDamping,
        eigenvalueMap: EigenvalueMap = Self().eigenvalueMap, retraction: Retraction? = Self().retraction,
        basisUpdateInterval: Int? = Self().basisUpdateInterval
    ) {
        self.method = method
        self.populationSize = populationSize
        self.meanLearningRate = meanLearningRate
        self.covarianceLearningRate = covarianceLearningRate
        self.initialStepSize = initialStepSize
        self.gapDamping = gapDamping
        self.eigenvalueMap = eigenvalueMap
        self.retraction = retraction
        self.basisUpdateInterval = basisUpdateInterval
    }

    public static let fields: [ConfigField<AdaptationOptions>] = [
        .init("method", \.method),
        .init("populationSize", \.populationSize, .in(4...100_000)),
        .init("meanLearningRate", \.meanLearningRate, .in(0...10, excludingLower: true)),
        .init("covarianceLearningRate", \.covarianceLearningRate, .in(0...1, excludingLower: true)),
        .init("initialStepSize", \.initialStepSize, .everyValue(mustBe: "> 0") { $0 > 0 && $0.isFinite }),
        .init("gapDamping", \.gapDamping, .above(0)),
        .init("eigenvalueMap", \.eigenvalueMap),
        .init("retraction", \.retraction),
        .init("basisUpdateInterval", \.basisUpdateInterval, .in(1...1_000_000)),
    ]

    public static func defaults(given _: GivenFields<AdaptationOptions>) -> AdaptationOptions { AdaptationOptions() }

    /// `delta` of `method`'s spectral step: as set, or 1e-4 for `cma` (CMA's small steps need
    /// little damping; 1e-2 left 10-D Rosenbrock (unrotated) in its local minimum on 4 of 10 seeds against 1
    /// of 10, docs/benchmarks.md) and 1e-2 for `spectral`.
    public func effectiveGapDamping(for method: AdaptationMethod) -> Double {
        gapDamping ?? (method == .spectral ? 1e-2 : 1e-4)
    }

    /// The retraction of `method`'s spectral step: as set, or `trunc2+ns1` with the polar step
    /// gated for `cma` (CMA's rotations are small: as many evaluations as Cayley at n = 10-20,
    /// and 4x less time per iteration at n = 200-500, docs/benchmarks.md) and Cayley for
    /// `spectral`.
    public func effectiveRetraction(for method: AdaptationMethod) -> Retraction {
        retraction ?? (method == .spectral ? .cayley : .standard)
    }

    /// `cma`'s basis interval: as set, or pycma's lazy eigendecomposition gap
    /// `max(1, floor(1 / ((c_1 + c_mu) n 10)))` (1 up to n of about 150; 2, 4 and 8 at n = 200, 500 and 1000), so
    /// the basis moves as often as pycma decomposes.
    public func basisInterval(parameters: CMAParameters) -> Int {
        if let basisUpdateInterval { return basisUpdateInterval }
        let gap = 1 / ((parameters.rankOneRate + parameters.rankMuRate) * Double(parameters.dimension) * 10)
        return Swift.max(1, Int(gap.rounded(.down)))
    }

    /// `sigma0_i` for `dimension` coordinates, and their largest, `sigma0`.
    public func initialSpread(dimension: Int) -> (largest: Double, perCoordinate: [Double]) {
        let spread = initialStepSize.values(dimension: dimension)
        return (spread.max() ?? 1, spread)
    }

    /// Why `initialStepSize` cannot serve `dimension` coordinates (a wrong count, or values so far
    /// apart that their squared ratio leaves Float64's range); nil when it can.
    public func initialStepSizeProblem(dimension: Int) -> String? {
        if let problem = initialStepSize.countProblem(dimension: dimension) { return "initialStepSize \(problem)" }
        let spread = initialSpread(dimension: dimension)
        guard let smallest = spread.perCoordinate.min(), smallest > 0 else { return nil }
        return spread.largest / smallest > 1e100 ? "initialStepSize: the largest and smallest may differ by at most 1e100" : nil
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
