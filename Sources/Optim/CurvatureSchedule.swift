import Spectral
import Support

/// When each spectral factor takes a curvature step, and how large: the curvature work spent
/// where it pays.
///
/// A factor of dimension `k` costs about `k³` per update (the retraction) while its
/// preconditioner costs `k²` per use, so the large factors are updated less often: with a
/// reference dimension `D`, a factor with `k > D` is updated every
///
///     T(k) = curvatureInterval * 2^round(log2((k / D)³))      (at most maxCurvatureInterval)
///
/// (the cap rounded down to `curvatureInterval * 2^j`)
///
/// steps, so that each factor's update costs per step about what a `D x D` factor updated every
/// `curvatureInterval` steps costs; factors with `k <= D` keep `curvatureInterval`. Intervals are
/// powers of two times the base, so a block's two factors fall due together at the longer one's
/// steps (one rotated gradient serves both). Factors start far from the curvature, so with
/// `warmupSteps` W > 0 the intervals grow to `T(k)` by doubling: at step t a factor's interval is
/// `min(T(k), curvatureInterval * 2^floor(log2(1 + t / W)))`: W steps at the base interval, then
/// about W updates per doubling.
///
/// `rateScaling` `compounded` gives an update after `T` steps the rate `1 - (1 - beta2)^T`, what
/// the moving average would have moved in those `T` steps; `fixed` keeps `beta2`.
public struct CurvatureSchedule: Sendable, Equatable {
    /// How a factor's curvature learning rate depends on its update interval `T`.
    public enum RateScaling: String, NamedChoice {
        /// `beta2` whatever the interval.
        case fixed
        /// `1 - (1 - beta2)^T`: as far as `T` steps of the moving average would have moved.
        case compounded
    }

    /// Steps between updates of the factors up to `referenceDimension`, and the unit every longer
    /// interval is a power-of-two multiple of (`OptimizerConfig.curvatureInterval`, default 1);
    /// at least 1.
    public var baseInterval: Int
    /// `D`: factors of dimension `k > D` are updated about `(k / D)³` times less often (up to
    /// `maxInterval`); nil: every factor every `baseInterval` steps
    /// (`OptimizerConfig.curvatureReferenceDimension`, default 128).
    public var referenceDimension: Int?
    /// The longest interval, used rounded down to `baseInterval * 2^j`
    /// (`OptimizerConfig.maxCurvatureInterval`, default 64).
    public var maxInterval: Int
    /// `W`: steps at `baseInterval` before the intervals start doubling toward `T(k)`; 0: settled
    /// from the start (`OptimizerConfig.curvatureWarmupSteps`, default 8).
    public var warmupSteps: Int
    /// How the curvature learning rate grows with the interval
    /// (`OptimizerConfig.curvatureRateScaling`, default `compounded`).
    public var rateScaling: RateScaling
    /// `beta2`, the curvature learning rate of a factor updated every step (the preconditioner's
    /// `factor.curvatureLearningRate`, default 0.01); `rateScaling` adapts it to longer intervals.
    public var curvatureLearningRate: Double

    /// A schedule with the settings above; a `maxInterval` below `baseInterval` is raised to it.
    /// `baseInterval` must be at least 1 (`OptimizerConfig` checks it).
    public init(
        baseInterval: Int, referenceDimension: Int?, maxInterval: Int, warmupSteps: Int, rateScaling: RateScaling,
        curvatureLearningRate: Double
    ) {
        self.baseInterval = baseInterval
        self.referenceDimension = referenceDimension
        self.maxInterval = Swift.max(maxInterval, baseInterval)
        self.warmupSteps = warmupSteps
        self.rateScaling = rateScaling
        self.curvatureLearningRate = curvatureLearningRate
    }

    /// The most doublings of the base interval that stay within `maxInterval`.
    private var maxDoublings: Int {
        var doublings = 0
        while doublings < 30 && baseInterval << (doublings + 1) <= maxInterval { doublings += 1 }
        return doublings
    }

    /// `T(k)` after the warm-up: `baseInterval * 2^j`, the cap rounded down to such a value so
    /// that intervals stay nested.
    public func interval(dimension k: Int) -> Int {
        guard let reference = referenceDimension, k > reference else { return baseInterval }
        let exponent = (3 * Double.log2(Double(k) / Double(reference))).rounded()
        return baseInterval << Swift.min(maxDoublings, Int(Swift.max(0, Swift.min(exponent, 30))))
    }

    /// The interval at `step`: `interval(dimension:)`, reached by doubling during the warm-up.
    public func interval(dimension k: Int, step: Int) -> Int {
        let settled = interval(dimension: k)
        guard warmupSteps > 0 else { return settled }
        // 2^floor(log2(1 + t / W)): the bit width of 1 + t / W, minus one.
        let doublings = Int.bitWidth - (1 + step / warmupSteps).leadingZeroBitCount - 1
        return Swift.min(settled, baseInterval << Swift.min(doublings, 30))
    }

    /// The learning rate of a factor of dimension `k` at `step`, or nil if it is not due.
    public func rate(dimension k: Int, step: Int) -> Double? {
        let interval = interval(dimension: k, step: step)
        guard step % interval == 0 else { return nil }
        switch rateScaling {
        case .fixed: return curvatureLearningRate
        case .compounded: return interval == 1 ? curvatureLearningRate : 1 - Double.pow(1 - curvatureLearningRate, Double(interval))
        }
    }
}
