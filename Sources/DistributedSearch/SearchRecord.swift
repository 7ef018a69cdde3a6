/// One line of an `es` run's `metrics.jsonl`: where a search stands after an iteration, what
/// `spectrain plot` draws for gradient-free runs.
package struct SearchRecord: Codable, Sendable, Equatable {
    /// Iterations of the whole job so far (over its methods and restarts): the step a checkpoint
    /// and a resume cut the log at.
    package var step: Int
    package var method: String
    /// Restarts taken before this search (IPOP), and its population.
    package var restart: Int
    package var population: Int
    /// Iterations of this search.
    package var iteration: Int
    /// Candidate evaluations of this method so far, over its restarts.
    package var evaluations: Int
    /// `f(mean)` after the iteration, and the best sample value of the method so far.
    package var meanValue: Double
    package var bestValue: Double
    /// `sigma`, the overall step size (1 for the xNES forms), and the condition number of the
    /// covariance where it is free (nil for exact xNES).
    package var stepSize: Double
    package var condition: Double?
    /// Seconds since the method started, over every process that ran it.
    package var elapsedSeconds: Double

    package init(step: Int, run: SearchRun) {
        self.step = step
        method = run.settings.options.method.rawValue
        restart = run.restart
        population = run.search.population
        iteration = run.search.iteration
        evaluations = run.totalEvaluations
        meanValue = run.meanValue ?? .nan
        bestValue = run.overallBestValue
        stepSize = run.search.stepSize
        condition = run.search.covarianceCondition
        elapsedSeconds = run.seconds
    }
}
