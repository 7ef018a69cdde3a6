/// One line of an `es` run's `metrics.jsonl`: where a search stands after an iteration, what
/// `spectrain plot` draws for gradient-free runs.
public struct SearchRecord: Codable, Sendable, Equatable {
    /// Iterations of the whole job so far (over its methods and restarts): the step a checkpoint
    /// and a resume cut the log at.
    public var step: Int
    public var method: String
    /// Restarts taken before this search (IPOP), and its population.
    public var restart: Int
    public var population: Int
    /// Iterations of this search.
    public var iteration: Int
    /// Candidate evaluations of this method so far, over its restarts.
    public var evaluations: Int
    /// `f(mean)` after the iteration, and the best sample value of the method so far.
    public var meanValue: Double
    public var bestValue: Double
    /// `sigma`, the overall step size (1 for the xNES forms), and the condition number of the
    /// covariance where it is free (nil for exact xNES).
    public var stepSize: Double
    public var condition: Double?
    /// Seconds since the method started, over every process that ran it.
    public var elapsedSeconds: Double

    public init(step: Int, run: SearchRun) {
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
