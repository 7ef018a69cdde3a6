import Cluster
import Foundation
import GradientFree
import Spectral
import Support

/// One covariance adaptation run to a target value, with the fitness evaluations of every
/// iteration spread over the ranks of `communicator` (each evaluates a contiguous share of the
/// candidates; an allgatherv gives every rank all values, and every rank makes the same step).
package enum AdaptationRun {
    /// When a run stops.
    package struct StopRule: Sendable, Equatable {
        /// Stop once `f(mean)` is below this.
        package var target: Double
        /// Stop after this many candidate evaluations.
        package var maxEvaluations: Int
        /// Also stop when the search has stagnated (`Stagnation`): what a restart needs.
        package var stopsOnStagnation: Bool

        package init(target: Double = 1e-10, maxEvaluations: Int = 1_000_000, stopsOnStagnation: Bool = false) {
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
        var recentBest: [Double] = []

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
    package enum StopReason: String, Sendable, Equatable, Codable {
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
    package struct Outcome: Sendable, Equatable, Codable {
        package var method: String
        package var iterations: Int
        /// Candidate evaluations (`iterations x population`; the per-iteration `f(mean)` that
        /// decides the stop is not counted, as in the reference).
        package var evaluations: Int
        /// `f` at the final mean.
        package var finalValue: Double
        package var bestSampleValue: Double
        package var reachedTarget: Bool
        package var stopReason: StopReason
        package var eigendecompositions: Int
        package var seconds: Double
        /// The final mean of the search distribution (the solution), and the best sample seen.
        package var mean: [Double]
        package var bestSample: [Double]
        /// Restarts taken (IPOP), and the population of the last search.
        package var restarts: Int = 0
        package var population: Int = 0
    }

    /// A line of progress: iteration, evaluations, `f(mean)`, best sample so far, and the search.
    package typealias Progress = (
        _ iteration: Int, _ evaluations: Int, _ meanValue: Double, _ bestValue: Double, _ search: any SearchDistribution
    ) -> Void

    /// Runs `adaptation` on `objective` until `stop` (no restarts); `progress` is called every
    /// `logEvery` iterations (0: never). Throws when the replicas of the distribution differ at the end.
    package static func run(
        _ adaptation: any SearchDistribution, objective: any ObjectiveFunction, stop: StopRule, communicator: any Communicator,
        logEvery: Int = 0, progress: Progress? = nil
    ) throws -> Outcome {
        let settings = SearchRun.Settings(
            options: adaptation.options, dimension: adaptation.dimension, start: adaptation.mean, seed: 0, stop: stop)
        return try SearchRun(settings: settings, search: adaptation)
            .run(objective: objective, communicator: communicator, afterIteration: reporter(logEvery: logEvery, progress))
    }

    /// IPOP-CMA-ES (`SearchRun`): the search `options` describes, restarted with a growing
    /// population while it stagnates short of the target.
    package static func runWithRestarts(
        options: AdaptationOptions, dimension: Int, start: [Double], seed: UInt64, restarts: Int, populationGrowth: Double,
        objective: any ObjectiveFunction, stop: StopRule, communicator: any Communicator,
        logEvery: Int = 0, progress: Progress? = nil
    ) throws -> Outcome {
        let settings = SearchRun.Settings(
            options: options, dimension: dimension, start: start, seed: seed, restarts: restarts, populationGrowth: populationGrowth, stop: stop)
        return try SearchRun(settings: settings)
            .run(objective: objective, communicator: communicator, afterIteration: reporter(logEvery: logEvery, progress))
    }

    /// Calls `progress` every `logEvery` iterations of a search.
    package static func reporter(logEvery: Int, _ progress: Progress?) -> ((SearchRun) -> Void)? {
        guard logEvery > 0, let progress else { return nil }
        return { run in
            if run.search.iteration % logEvery == 0 {
                progress(run.search.iteration, run.totalEvaluations, run.meanValue ?? .nan, run.overallBestValue, run.search)
            }
        }
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
