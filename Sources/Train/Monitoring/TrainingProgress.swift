/// Where a run stands between steps: everything besides parameters and optimizer state that a
/// resumed run needs to continue as if it had not stopped. Saved in every checkpoint's manifest.
package struct TrainingProgress: Codable, Sendable, Equatable {
    /// Steps completed.
    package var step = 0
    package var skippedSteps = 0
    package var consecutiveNonFinite = 0
    package var lastTestLoss: Double?
    package var lastTestAccuracy: Double?
    package var bestTestAccuracy = -1.0
    package var bestStep = 0
    package var targetReachedStep: Int?
    package var targetReachedEpoch: Double?
    package var targetReachedTrainingSeconds: Double?
    /// Seconds of earlier sessions of this run (a resumed run adds its own).
    package var elapsedSeconds = 0.0
    package var time = StepTimes()
    /// The logging window open at `step` (sums since the last metrics line).
    package var windowLossSum = 0.0
    package var windowCorrect = 0
    package var windowSamples = 0
    /// The divergence rule's state (which checkpoint may become `latest`).
    package var lossHealth = LossHealth()
    /// The healthy checkpoint with the lowest recent training loss so far (`RUN/best`).
    package var bestCheckpointStep: Int?
    package var bestCheckpointLoss: Double?

    package init() {}
}

extension TrainingProgress {
    /// Why progress read from a manifest cannot be continued (a count out of range, a time that
    /// is not a finite non-negative number), or nil: checked before anything uses it.
    func problem(totalSteps: Int) -> String? {
        let steps: [(String, Int?)] = [
            ("step", step), ("skippedSteps", skippedSteps), ("consecutiveNonFinite", consecutiveNonFinite), ("bestStep", bestStep),
            ("targetReachedStep", targetReachedStep), ("lossHealth.finiteSteps", lossHealth.finiteSteps),
            ("lossHealth.spikeStartStep", lossHealth.spikeStartStep), ("lossHealth.nonFiniteStep", lossHealth.nonFiniteStep),
            ("bestCheckpointStep", bestCheckpointStep),
        ]
        for case let (name, value?) in steps where !(0...totalSteps).contains(value) {
            return "progress.\(name) is \(value), outside 0...\(totalSteps) (this run's steps)"
        }
        for (name, value) in [("windowSamples", windowSamples), ("windowCorrect", windowCorrect)] where value < 0 {
            return "progress.\(name) is \(value), below 0"
        }
        if windowCorrect > windowSamples { return "progress.windowCorrect (\(windowCorrect)) exceeds progress.windowSamples (\(windowSamples))" }
        let seconds: [(String, Double)] = [
            ("elapsedSeconds", elapsedSeconds), ("time.data", time.data), ("time.forward", time.forward), ("time.backward", time.backward),
            ("time.communication", time.communication), ("time.curvature", time.curvature), ("time.precondition", time.precondition),
            ("time.optimizer", time.optimizer), ("time.evaluation", time.evaluation), ("time.checkpoint", time.checkpoint),
        ]
        for (name, value) in seconds where !(value.isFinite && value >= 0) {
            return "progress.\(name) is \(value), not a finite number of seconds"
        }
        return nil
    }
}
