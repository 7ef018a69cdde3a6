/// Where a run stands between steps: everything besides parameters and optimizer state that a
/// resumed run needs to continue as if it had not stopped. Saved in every checkpoint's manifest.
public struct TrainingProgress: Codable, Sendable, Equatable {
    /// Steps completed.
    public var step = 0
    public var skippedSteps = 0
    public var consecutiveNonFinite = 0
    public var lastTestLoss: Double?
    public var lastTestAccuracy: Double?
    public var bestTestAccuracy = -1.0
    public var bestStep = 0
    public var targetReachedStep: Int?
    public var targetReachedEpoch: Double?
    public var targetReachedTrainingSeconds: Double?
    /// Seconds of earlier sessions of this run (a resumed run adds its own).
    public var elapsedSeconds = 0.0
    public var time = StepTimes()
    /// The logging window open at `step` (sums since the last metrics line).
    public var windowLossSum = 0.0
    public var windowCorrect = 0
    public var windowSamples = 0
    /// Lines in metrics.jsonl at `step`.
    public var metricsLines = 0

    public init() {}
}
