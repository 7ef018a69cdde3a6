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

        public init(target: Double = 1e-10, maxEvaluations: Int = 1_000_000) {
            self.target = target
            self.maxEvaluations = maxEvaluations
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
    }

    /// A line of progress: iteration, evaluations, `f(mean)`, best sample so far.
    public typealias Progress = (_ iteration: Int, _ evaluations: Int, _ meanValue: Double, _ bestValue: Double) -> Void

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
        while meanValue >= stop.target && evaluations + population <= stop.maxEvaluations && meanValue.isFinite {
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
            meanValue = try valueOfMean(adaptation, objective: objective, communicator: communicator)
            if logEvery > 0, adaptation.iteration % logEvery == 0 {
                progress?(adaptation.iteration, evaluations, meanValue, best)
            }
        }
        try checkReplicas(adaptation, communicator: communicator)
        let reason: StopReason = !meanValue.isFinite ? .nonFiniteMean : meanValue < stop.target ? .target : .evaluations
        return Outcome(
            method: adaptation.options.method.rawValue, iterations: adaptation.iteration, evaluations: evaluations,
            finalValue: meanValue, bestSampleValue: best, reachedTarget: reason == .target, stopReason: reason,
            eigendecompositions: adaptation.eigendecompositions, seconds: start.duration(to: clock.now).inSeconds,
            mean: adaptation.mean, bestSample: bestSample)
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
