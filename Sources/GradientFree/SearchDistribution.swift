import Linalg
import Spectral

/// A search distribution adapted from ranked samples only, in ask/tell form: `ask` gives the
/// candidates of the coming iteration (a pure function of the seed and the iteration, so every
/// rank draws the same ones), the caller evaluates them on any rank, and `tell` takes all their
/// values and makes the step.
public protocol SearchDistribution: AnyObject {
    /// The settings the search was made with.
    var options: AdaptationOptions { get }
    /// `n`, the number of coordinates of a candidate.
    var dimension: Int { get }
    /// Candidates per iteration.
    var population: Int { get }
    /// The distribution's mean, the current estimate of the minimum.
    var mean: [Double] { get }
    /// Iterations completed.
    var iteration: Int { get }
    /// Eigendecompositions performed (only exact xNES does any).
    var eigendecompositions: Int { get }
    /// The candidates, one per row (`population x dimension`).
    func ask() -> Matrix<Double>
    /// The step from the candidates' values, in row order: one value per candidate of the last
    /// `ask`, lower is better, NaN ranks last. Throws `AdaptationError` for another count of
    /// values or a `tell` with no `ask` before it, and changes nothing then.
    func tell(_ values: [Double]) throws
    /// The lowest value told so far and its candidate.
    var best: BestSample { get }
    /// The smallest and largest standard deviation along the distribution's axes, where free.
    var axisStandardDeviations: (smallest: Double, largest: Double)? { get }
    /// The transform from standard normal samples to steps, for replica checks.
    var samplingTransform: Matrix<Double> { get }
    /// `sigma`, the overall step size of the search (1 for the xNES forms, whose scale is in
    /// their covariance).
    var stepSize: Double { get }
    /// The condition number of the covariance `C` (largest over smallest eigenvalue), where free.
    var covarianceCondition: Double? { get }
    /// Adds the state a checkpoint saves to `state`: with the options, dimension and seed the
    /// search was made with, enough to continue bit for bit.
    func save(into state: inout SearchState)
    /// Continues from a state `save` wrote for a search made with the same options, dimension
    /// and seed; throws (changing nothing) when it does not fit.
    func restore(from state: SearchState) throws(AdaptationError)
}

/// The dimensions a search takes: its covariance is `dimension²` numbers and each iteration
/// about `dimension³` operations.
public let searchDimensions = 2...2000

/// Why a search of `dimension` from `start` with `options` cannot be made, in one line; nil when
/// it can. `makeSearch` checks this, so values from outside never reach a precondition.
public func searchProblem(dimension: Int, start: [Double], options: AdaptationOptions) -> String? {
    guard searchDimensions.contains(dimension) else {
        return "dimension must be in \(searchDimensions.lowerBound)...\(searchDimensions.upperBound), got \(dimension)"
    }
    guard start.count == dimension else { return "start has \(start.count) coordinates for dimension \(dimension)" }
    if let index = start.firstIndex(where: { !$0.isFinite }) { return "start[\(index)] is \(start[index]), not finite" }
    return options.validationError() ?? options.initialStepSizeProblem(dimension: dimension)
}

/// The search distribution of `options.method`, started at `start`. Throws `AdaptationError`
/// for arguments `searchProblem` rejects.
public func makeSearch(dimension: Int, start: [Double], options: AdaptationOptions, seed: UInt64) throws(AdaptationError) -> any SearchDistribution {
    if let problem = searchProblem(dimension: dimension, start: start, options: options) { throw AdaptationError(problem) }
    do {
        switch options.method {
        case .cma, .cmaExact: return try CMASearch(dimension: dimension, start: start, options: options, seed: seed)
        case .spectral, .xnes: return try CovarianceAdaptation(dimension: dimension, start: start, options: options, seed: seed)
        }
    } catch {
        throw AdaptationError("the initial covariance: \(error)")
    }
}

/// Orders candidate rows from lowest value to highest: NaN ranks as `+infinity`, and ties by row,
/// so every rank holding the same values ranks them alike.
func rankCandidates(by values: [Double], into order: inout [Int]) {
    for index in order.indices { order[index] = index }
    func key(_ row: Int) -> Double { values[row].isNaN ? .infinity : values[row] }
    order.sort { key($0) < key($1) || (key($0) == key($1) && $0 < $1) }
}

/// The problem with the values a `tell` got, nil when there is one value for each of the
/// `population` candidates of an `ask` made this iteration.
func toldValuesProblem(count: Int, population: Int, asked: Bool) -> AdaptationError? {
    if !asked { return AdaptationError("tell: no ask this iteration (ask for the candidates, evaluate them, then tell their values)") }
    if count != population { return AdaptationError("tell: \(count) values for \(population) candidates") }
    return nil
}

/// The generator of iteration `iteration`'s standard normal samples: a pure function of (seed,
/// iteration), so every rank draws the same samples, and a resumed search the ones it would have.
func sampleGenerator(seed: UInt64, iteration: Int) -> SeededGenerator {
    SeededGenerator(seed: seed ^ (UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15))
}
