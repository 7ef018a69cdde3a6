import Cluster
import Foundation
import GradientFree
import Spectral
import Support

/// One method's minimisation from its start to its stop, IPOP restarts included, held as state
/// between iterations so that a checkpoint can save it and a resumed job continue bit for bit.
///
/// Each iteration the candidates' evaluations are spread over the ranks of the communicator
/// (each evaluates a contiguous share; an allgatherv gives every rank all values), every rank
/// makes the same step, and rank 0 evaluates `f(mean)` for the stop test and sends it to all.
///
/// **Restarts** (IPOP-CMA-ES, Auger and Hansen 2005): while a search stagnates (`Stagnation`)
/// without reaching the target and restarts remain, a new one starts from the same start with the
/// population multiplied by `populationGrowth` and the seed advanced, within the one evaluation
/// budget. The outcome sums iterations and evaluations over the searches; its mean is the last
/// search's, its best sample the best of all.
///
/// **Noise** (`Noise`): each candidate may be evaluated several times (the median counts, every
/// evaluation is counted), and the target is reached only when `f(mean)` and its re-evaluations
/// are all below it, so one lucky draw of a noisy function does not end a run. Every evaluation
/// is told its round (`ObjectiveFunction.beginRound`), a pure function of the restart, iteration
/// and repetition, so a noisy built-in draws the same noise on any number of ranks.
package final class SearchRun {
    /// What is fixed for the whole run.
    package struct Settings: Sendable {
        package var options: AdaptationOptions
        package var dimension: Int
        package var start: [Double]
        package var seed: UInt64
        package var restarts: Int
        package var populationGrowth: Double
        package var stop: AdaptationRun.StopRule
        package var noise: Noise

        package init(
            options: AdaptationOptions, dimension: Int, start: [Double], seed: UInt64, restarts: Int = 0,
            populationGrowth: Double = 2, stop: AdaptationRun.StopRule, noise: Noise = Noise()
        ) {
            (self.options, self.dimension, self.start, self.seed) = (options, dimension, start, seed)
            (self.restarts, self.populationGrowth, self.stop, self.noise) = (restarts, populationGrowth, stop, noise)
        }
    }

    /// How a noisy objective is treated.
    package struct Noise: Sendable, Equatable {
        /// Evaluations of each candidate; its value is their median.
        package var evaluationsPerCandidate = 1
        /// Evaluations of `f(mean)` that must all be below the target for the run to stop there.
        package var targetConfirmations = 1

        package init(evaluationsPerCandidate: Int = 1, targetConfirmations: Int = 1) {
            self.evaluationsPerCandidate = evaluationsPerCandidate
            self.targetConfirmations = targetConfirmations
        }
    }

    package let settings: Settings
    /// The current search.
    package private(set) var search: any SearchDistribution
    /// Restarts taken so far.
    package private(set) var restart = 0
    /// Candidate evaluations of the current search.
    package private(set) var evaluations = 0
    /// `f(mean)` after the last iteration (the largest of its confirmations); nil before the first
    /// evaluation.
    package private(set) var meanValue: Double?
    /// The best sample of the current search and its value.
    package private(set) var bestValue = Double.infinity
    package private(set) var bestSample: [Double]
    /// Totals of the searches before the current one.
    private var earlier = Totals()
    private var stagnation: AdaptationRun.Stagnation
    /// Seconds spent before this process took the run over (a resumed run), and since.
    private var secondsBefore = 0.0
    private var clockStart = ContinuousClock.now
    private var values: [Double] = []
    private var repeatedValues: [[Double]] = []

    /// What finished searches add up to.
    struct Totals {
        var iterations = 0
        var evaluations = 0
        var eigendecompositions = 0
        var bestValue = Double.infinity
        var bestSample: [Double] = []
    }

    /// A run that starts with `search` (made from `settings.options`, or any search for a run
    /// without restarts).
    package init(settings: Settings, search: any SearchDistribution) {
        precondition(search.dimension == settings.dimension && settings.start.count == settings.dimension,
                     "SearchRun: a search of dimension \(search.dimension) for settings of \(settings.dimension)")
        self.settings = settings
        self.search = search
        bestSample = search.mean
        stagnation = Self.stagnation(for: search, settings: settings)
    }

    /// A run of `settings.options`' search from `settings.start`.
    package convenience init(settings: Settings) throws(AdaptationError) {
        let search = try makeSearch(
            dimension: settings.dimension, start: settings.start, options: settings.options, seed: Self.seed(settings.seed, restart: 0))
        self.init(settings: settings, search: search)
    }

    /// The seed of restart `restart`'s search.
    static func seed(_ seed: UInt64, restart: Int) -> UInt64 {
        seed &+ UInt64(restart) &* 0x2545_F491_4F6C_DD1D
    }

    private static func stagnation(for search: any SearchDistribution, settings: Settings) -> AdaptationRun.Stagnation {
        AdaptationRun.Stagnation(
            dimension: settings.dimension, population: search.population,
            initialStepSize: settings.options.initialSpread(dimension: settings.dimension).largest)
    }

    /// Iterations of all searches so far.
    package var iterations: Int { earlier.iterations + search.iteration }
    /// Candidate evaluations of all searches so far.
    package var totalEvaluations: Int { earlier.evaluations + evaluations }
    /// The best sample value of all searches so far.
    package var overallBestValue: Double { Swift.min(earlier.bestValue, bestValue) }
    /// Seconds the run has taken, over every process that ran it.
    package var seconds: Double { secondsBefore + clockStart.duration(to: .now).inSeconds }

    /// Runs to the stop; `afterIteration` is called after every iteration (metrics, checkpoints),
    /// when the run's state is complete.
    package func run(
        objective: any ObjectiveFunction, communicator: any Communicator, afterIteration: ((SearchRun) throws -> Void)? = nil
    ) throws -> AdaptationRun.Outcome {
        clockStart = .now
        while true {
            let reason = try runSearch(objective: objective, communicator: communicator, afterIteration: afterIteration)
            try AdaptationRun.checkReplicas(search, communicator: communicator)
            guard reason == .stagnation, restart < settings.restarts else { return outcome(reason) }
            let next = Int((Double(search.population) * settings.populationGrowth).rounded(.up))
            guard next <= 100_000, settings.stop.maxEvaluations - totalEvaluations >= next else { return outcome(reason) }
            try startNextSearch(population: next)
        }
    }

    /// The current search to its stop: the reason, with stagnation only while restarts remain.
    private func runSearch(
        objective: any ObjectiveFunction, communicator: any Communicator, afterIteration: ((SearchRun) throws -> Void)?
    ) throws -> AdaptationRun.StopReason {
        let population = search.population
        let partition = try Partition.even(total: population, ranks: communicator.size)
        let mine = partition.range(of: communicator.rank)
        let repeats = settings.noise.evaluationsPerCandidate
        let cost = population * repeats
        values = [Double](repeating: 0, count: population)
        repeatedValues = repeats > 1 ? [[Double]](repeating: values, count: repeats) : []
        let stopsOnStagnation = restart < settings.restarts
        if meanValue == nil { meanValue = try valueOfMean(objective: objective, communicator: communicator) }
        var stagnated = false
        while true {
            let value = meanValue!
            if !value.isFinite { return .nonFiniteMean }
            if value < settings.stop.target { return .target }
            if stagnated { return .stagnation }
            if totalEvaluations + cost > settings.stop.maxEvaluations { return .evaluations }
            let candidates = search.ask()
            for repetition in 0..<repeats {
                objective.beginRound(EvaluationRound.candidates(restart: restart, iteration: search.iteration, repetition: repetition))
                try objective.values(of: candidates, rows: mine, into: &values)
                try values.withUnsafeMutableBufferPointer { try communicator.allgatherv(inPlace: $0, partition: partition) }
                if repeats > 1 { repeatedValues[repetition] = values }
            }
            if repeats > 1 { Self.medians(of: repeatedValues, into: &values) }
            evaluations += cost
            try search.tell(values)
            // The search keeps its best sample (first in row order among equals; every rank holds
            // all values).
            if search.best.value < bestValue { (bestValue, bestSample) = (search.best.value, search.best.point) }
            if stopsOnStagnation { stagnated = stagnation.record(values, search: search) }
            meanValue = try valueOfMean(objective: objective, communicator: communicator)
            try afterIteration?(self)
        }
    }

    /// The median of each candidate's repeated values (the mean of the middle two for an even count).
    package static func medians(of repeated: [[Double]], into values: inout [Double]) {
        var column = [Double](repeating: 0, count: repeated.count)
        for index in values.indices {
            for repetition in repeated.indices { column[repetition] = repeated[repetition][index] }
            column.sort { $0 < $1 || ($0.isFinite && $1.isNaN) }
            let middle = column.count / 2
            values[index] = column.count % 2 == 1 ? column[middle] : (column[middle - 1] + column[middle]) / 2
        }
    }

    /// `f(mean)` on rank 0, sent to all so every rank stops at the same iteration; when it is
    /// below the target, the largest of it and `targetConfirmations - 1` re-evaluations.
    private func valueOfMean(objective: any ObjectiveFunction, communicator: any Communicator) throws -> Double {
        var value = [0.0]
        if communicator.rank == 0 {
            try search.mean.withUnsafeBufferPointer { mean in
                for confirmation in 0..<settings.noise.targetConfirmations {
                    objective.beginRound(EvaluationRound.mean(restart: restart, iteration: search.iteration, repetition: confirmation))
                    let next = try objective.value(mean)
                    value[0] = confirmation == 0 ? next : Swift.max(value[0], next.isNaN ? .infinity : next)
                    if !(value[0] < settings.stop.target) { break }
                }
            }
        }
        try communicator.broadcast(&value, root: 0)
        return value[0]
    }

    /// Ends the current search and starts the next with `population` samples.
    private func startNextSearch(population: Int) throws {
        earlier = accumulated()
        restart += 1
        var options = settings.options
        options.populationSize = population
        search = try makeSearch(dimension: settings.dimension, start: settings.start, options: options, seed: Self.seed(settings.seed, restart: restart))
        (evaluations, meanValue, bestValue, bestSample) = (0, nil, .infinity, search.mean)
        stagnation = Self.stagnation(for: search, settings: settings)
    }

    /// The totals with the current search added.
    private func accumulated() -> Totals {
        var totals = earlier
        totals.iterations += search.iteration
        totals.evaluations += evaluations
        totals.eigendecompositions += search.eigendecompositions
        if bestValue < totals.bestValue || totals.bestSample.isEmpty {
            (totals.bestValue, totals.bestSample) = (bestValue, bestSample)
        }
        return totals
    }

    private func outcome(_ reason: AdaptationRun.StopReason) -> AdaptationRun.Outcome {
        let totals = accumulated()
        return AdaptationRun.Outcome(
            method: settings.options.method.rawValue, iterations: totals.iterations, evaluations: totals.evaluations,
            finalValue: meanValue ?? .nan, bestSampleValue: totals.bestValue, reachedTarget: reason == .target, stopReason: reason,
            eigendecompositions: totals.eigendecompositions, seconds: seconds,
            mean: search.mean, bestSample: totals.bestSample, restarts: restart, population: search.population)
    }

    // MARK: - Checkpoints

    /// Adds the run's state and its search's to `state` (between iterations).
    package func save(into state: inout SearchState) {
        state.add("run.counters", integers: [restart, search.population, evaluations, earlier.iterations, earlier.evaluations, earlier.eigendecompositions])
        state.add("run.values", [meanValue ?? .nan, bestValue, seconds, earlier.bestValue])
        state.add("run.bestSample", bestSample)
        state.add("run.earlierBestSample", earlier.bestSample.isEmpty ? bestSample : earlier.bestSample)
        state.add("run.recentBest", stagnation.recentBest)
        search.save(into: &state)
    }

    /// A run of `settings` continuing from `state` (a checkpoint `save` wrote for the same
    /// settings); throws a one-line reason when the state does not fit.
    package convenience init(settings: Settings, resumingFrom state: SearchState) throws(AdaptationError) {
        let n = settings.dimension
        let counters = try state.integers("run.counters", count: 6)
        let (restart, population) = (counters[0], counters[1])
        guard restart <= settings.restarts else {
            throw AdaptationError("search state 'run.counters': restart \(restart), but the configuration allows \(settings.restarts)")
        }
        guard (2...100_000).contains(population) else { throw AdaptationError("search state 'run.counters': population \(population) out of range") }
        var options = settings.options
        if restart > 0 { options.populationSize = population }
        guard options.population(dimension: n) == population else {
            throw AdaptationError("search state 'run.counters': population \(population), but the configuration gives \(options.population(dimension: n))")
        }
        let search: any SearchDistribution
        do {
            search = try makeSearch(dimension: n, start: settings.start, options: options, seed: Self.seed(settings.seed, restart: restart))
        } catch {
            throw AdaptationError("cannot make the search to resume: \(error)")
        }
        try search.restore(from: state)
        self.init(settings: settings, search: search)
        let runValues = try state.doubles("run.values", shape: [4], allowingNonFinite: true)
        guard runValues[2].isFinite, runValues[2] >= 0 else { throw AdaptationError("search state 'run.values': seconds \(runValues[2]) invalid") }
        let window = try state.doubles("run.recentBest", atMost: stagnation.window)
        self.restart = restart
        evaluations = counters[2]
        earlier = Totals(
            iterations: counters[3], evaluations: counters[4], eigendecompositions: counters[5],
            bestValue: runValues[3], bestSample: restart > 0 ? try state.doubles("run.earlierBestSample", count: n) : [])
        (meanValue, bestValue, secondsBefore) = (runValues[0], runValues[1], runValues[2])
        bestSample = try state.doubles("run.bestSample", count: n)
        stagnation.recentBest = window
    }
}

/// Which evaluations of a run an objective is about to make: a pure function of the restart, the
/// iteration and the repetition, told to the objective (`ObjectiveFunction.beginRound`) so that a
/// noisy one draws the same noise however the candidates are spread over ranks.
enum EvaluationRound {
    static func candidates(restart: Int, iteration: Int, repetition: Int) -> UInt64 {
        mix(restart: restart, iteration: iteration, tag: UInt64(repetition) << 1)
    }

    static func mean(restart: Int, iteration: Int, repetition: Int) -> UInt64 {
        mix(restart: restart, iteration: iteration, tag: UInt64(repetition) << 1 | 1)
    }

    private static func mix(restart: Int, iteration: Int, tag: UInt64) -> UInt64 {
        var value = UInt64(truncatingIfNeeded: restart) &* 0x9E37_79B9_7F4A_7C15
        value ^= UInt64(truncatingIfNeeded: iteration) &* 0xBF58_476D_1CE4_E5B9
        value ^= tag &* 0x94D0_49BB_1331_11EB
        return value
    }
}
