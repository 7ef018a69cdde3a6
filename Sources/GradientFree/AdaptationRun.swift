import Cluster
import Foundation
import Spectral
import Support

/// One covariance adaptation run to a target value, with the fitness evaluations of every
/// iteration spread over the ranks of `communicator` (each evaluates a contiguous share of the
/// candidates; an allgatherv gives every rank all values, and every rank makes the same step).
public enum AdaptationRun {
    /// When a run stops.
    public struct StopRule: Sendable, Equatable {
        /// Stop once `f(mean)` is below this.
        public var target: Double
        /// Stop after this many candidate evaluations.
        public var maxEvaluations: Int
        /// Also stop when the search has stagnated (`Stagnation`): what a restart needs.
        public var stopsOnStagnation: Bool

        public init(target: Double = 1e-10, maxEvaluations: Int = 1_000_000, stopsOnStagnation: Bool = false) {
            self.target = target
            self.maxEvaluations = maxEvaluations
            self.stopsOnStagnation = stopsOnStagnation
        }
    }

    /// pycma's `tolfun` and `tolx` tests, the signs that a search has converged somewhere it
    /// cannot leave: over the last `10 + ceil(30 n / lambda)` iterations the best values and the
    /// current iteration's values lie within `1e-11` of each other, or the largest standard
    /// deviation along the distribution's axes is below `1e-11` times the initial step size.
    struct Stagnation {
        static let valueTolerance = 1e-11
        static let stepTolerance = 1e-11
        let window: Int
        let initialStepSize: Double
        private var recentBest: [Double] = []

        init(dimension: Int, population: Int, initialStepSize: Double) {
            window = 10 + (30 * dimension + population - 1) / population
            self.initialStepSize = initialStepSize
        }

        /// Records an iteration's values; true when the search has stagnated.
        mutating func record(_ values: [Double], search: any SearchDistribution) -> Bool {
            let finite = values.filter(\.isFinite)
            guard let low = finite.min(), let high = finite.max() else { return false }
            recentBest.append(low)
            if recentBest.count > window { recentBest.removeFirst() }
            if let spread = search.axisStandardDeviations, spread.largest < Self.stepTolerance * initialStepSize { return true }
            guard recentBest.count == window else { return false }
            return Swift.max(high, recentBest.max()!) - Swift.min(low, recentBest.min()!) < Self.valueTolerance
        }
    }

    /// Why a run ended.
    public enum StopReason: String, Sendable, Equatable, Codable {
        /// `f(mean)` fell below the target.
        case target
        /// Another iteration would pass `maxEvaluations`.
        case evaluations
        /// `f(mean)` was not a finite number (the function returned NaN or infinity there).
        case nonFiniteMean
        /// The search stagnated (`Stagnation`) and no restart was left.
        case stagnation
    }

    /// How a run went.
    public struct Outcome: Sendable, Equatable, Codable {
        public var method: String
        public var iterations: Int
        /// Candidate evaluations (`iterations x population`; the per-iteration `f(mean)` that
        /// decides the stop is not counted, as in the reference).
        public var evaluations: Int
        /// `f` at the final mean.
        public var finalValue: Double
        public var bestSampleValue: Double
        public var reachedTarget: Bool
        public var stopReason: StopReason
        public var eigendecompositions: Int
        public var seconds: Double
        /// The final mean of the search distribution (the solution), and the best sample seen.
        public var mean: [Double]
        public var bestSample: [Double]
        /// Restarts taken (IPOP), and the population of the last search.
        public var restarts: Int = 0
        public var population: Int = 0
    }

    /// A line of progress: iteration, evaluations, `f(mean)`, best sample so far, and the search.
    public typealias Progress = (
        _ iteration: Int, _ evaluations: Int, _ meanValue: Double, _ bestValue: Double, _ search: any SearchDistribution
    ) -> Void

    /// Runs `adaptation` on `objective` until `stop`; `progress` is called every `logEvery`
    /// iterations (0: never). Throws when the replicas of the distribution differ at the end.
    public static func run(
        _ adaptation: any SearchDistribution, objective: any ObjectiveFunction, stop: StopRule, communicator: any Communicator,
        logEvery: Int = 0, progress: Progress? = nil
    ) throws -> Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let population = adaptation.population
        let dimension = adaptation.dimension
        let partition = try Partition.even(total: population, ranks: communicator.size)
        let mine = partition.range(of: communicator.rank)
        var values = [Double](repeating: 0, count: population)
        var best = Double.infinity
        var bestSample = adaptation.mean
        var meanValue = try valueOfMean(adaptation, objective: objective, communicator: communicator)
        var evaluations = 0
        var stagnation = Stagnation(dimension: dimension, population: population, initialStepSize: adaptation.options.initialSpread(dimension: dimension).largest)
        var stagnated = false
        while meanValue >= stop.target && evaluations + population <= stop.maxEvaluations && meanValue.isFinite && !stagnated {
            let candidates = adaptation.ask()
            try objective.values(of: candidates, rows: mine, into: &values)
            try values.withUnsafeMutableBufferPointer { try communicator.allgatherv(inPlace: $0, partition: partition) }
            evaluations += population
            // The best sample, first in row order among equals (every rank holds all values).
            if let row = values.indices.min(by: { values[$0] < values[$1] }), values[row] < best {
                best = values[row]
                candidates.withUnsafeBufferPointer { points in
                    bestSample = Array(points[(row * dimension)..<((row + 1) * dimension)])
                }
            }
            try adaptation.tell(values)
            if stop.stopsOnStagnation { stagnated = stagnation.record(values, search: adaptation) }
            meanValue = try valueOfMean(adaptation, objective: objective, communicator: communicator)
            if logEvery > 0, adaptation.iteration % logEvery == 0 {
                progress?(adaptation.iteration, evaluations, meanValue, best, adaptation)
            }
        }
        try checkReplicas(adaptation, communicator: communicator)
        let reason: StopReason = !meanValue.isFinite ? .nonFiniteMean : meanValue < stop.target ? .target : stagnated ? .stagnation : .evaluations
        return Outcome(
            method: adaptation.options.method.rawValue, iterations: adaptation.iteration, evaluations: evaluations,
            finalValue: meanValue, bestSampleValue: best, reachedTarget: reason == .target, stopReason: reason,
            eigendecompositions: adaptation.eigendecompositions, seconds: start.duration(to: clock.now).inSeconds,
            mean: adaptation.mean, bestSample: bestSample, population: population)
    }

    /// IPOP-CMA-ES (Auger and Hansen 2005): runs the search `options` describes and, while it
    /// stagnates without reaching the target and restarts remain, starts a new one from the same
    /// start with the population multiplied by `populationGrowth` and the seed advanced, within
    /// the one evaluation budget. The outcome sums iterations and evaluations over the searches;
    /// its mean is the last search's, its best sample the best of all.
    public static func runWithRestarts(
        options: AdaptationOptions, dimension: Int, start: [Double], seed: UInt64, restarts: Int, populationGrowth: Double,
        objective: any ObjectiveFunction, stop: StopRule, communicator: any Communicator,
        logEvery: Int = 0, progress: Progress? = nil
    ) throws -> Outcome {
        var total: Outcome?
        var searchOptions = options
        var population = options.population(dimension: dimension)
        for restart in 0...restarts {
            searchOptions.populationSize = population
            let search = try makeSearch(dimension: dimension, start: start, options: searchOptions, seed: seed &+ UInt64(restart) &* 0x2545_F491_4F6C_DD1D)
            let spent = total?.evaluations ?? 0
            let rule = StopRule(target: stop.target, maxEvaluations: stop.maxEvaluations - spent, stopsOnStagnation: restart < restarts)
            var outcome = try run(search, objective: objective, stop: rule, communicator: communicator, logEvery: logEvery, progress: progress)
            if let previous = total {
                outcome.iterations += previous.iterations
                outcome.evaluations += previous.evaluations
                outcome.eigendecompositions += previous.eigendecompositions
                outcome.seconds += previous.seconds
                if previous.bestSampleValue <= outcome.bestSampleValue {
                    (outcome.bestSampleValue, outcome.bestSample) = (previous.bestSampleValue, previous.bestSample)
                }
            }
            outcome.restarts = restart
            total = outcome
            guard outcome.stopReason == .stagnation else { break }
            let next = Int((Double(population) * populationGrowth).rounded(.up))
            guard next <= 100_000, stop.maxEvaluations - outcome.evaluations >= next else { break }
            population = next
        }
        return total!
    }

    /// `f(mean)`, computed on rank 0 and sent to all, so that every rank stops at the same
    /// iteration even when the function is noisy.
    static func valueOfMean(_ adaptation: any SearchDistribution, objective: any ObjectiveFunction, communicator: any Communicator) throws -> Double {
        var value = [0.0]
        if communicator.rank == 0 {
            value[0] = try adaptation.mean.withUnsafeBufferPointer { try objective.value($0) }
        }
        try communicator.broadcast(&value, root: 0)
        return value[0]
    }

    /// Every rank must hold the same mean and sampling transform: compares their bits across ranks.
    static func checkReplicas(_ adaptation: any SearchDistribution, communicator: any Communicator) throws {
        guard communicator.size > 1 else { return }
        let fingerprint = ReplicaCheck.fingerprint((adaptation.mean + adaptation.samplingTransform.elements).lazy.map(\.bitPattern))
        guard try communicator.firstDisagreement([fingerprint]) == nil else {
            throw AdaptationError("the ranks' search distributions differ after \(adaptation.iteration) iterations")
        }
    }
}
