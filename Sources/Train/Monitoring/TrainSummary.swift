import Foundation

/// The end of a run, written to `summary.json`.
package struct TrainSummary: Codable, Sendable, Equatable {
    package var steps: Int
    package var epochs: Double
    package var seconds: Double
    /// Seconds without evaluation and checkpointing.
    package var trainingSeconds: Double
    package var samplesPerSecond: Double
    /// Characters predicted per second of training, for a language model.
    package var tokensPerSecond: Double?
    /// What the test values were measured on: "test" (the test images) or "validation" (the
    /// validation text of a language model, losses in nats per character).
    package var evaluation: String?
    package var finalTestLoss: Double
    package var finalTestAccuracy: Double
    package var bestTestAccuracy: Double
    package var bestStep: Int
    /// When test accuracy first reached `targetAccuracy` (nil if never or no target).
    package var targetAccuracy: Double?
    package var targetReachedStep: Int?
    package var targetReachedEpoch: Double?
    package var targetReachedTrainingSeconds: Double?
    package var skippedSteps: Int
    package var time: StepTimes

    /// The closing lines of a run whose folder is `folder`.
    func closingLines(folder: String) -> String {
        let summary = self
        let time = summary.time
        let parts: [(String, Double)] = [
            ("data", time.data), ("forward", time.forward), ("backward", time.backward),
            ("communication", time.communication), ("curvature", time.curvature),
            ("precondition", time.precondition), ("optimizer", time.optimizer), ("evaluation", time.evaluation),
            ("checkpoint", time.checkpoint),
        ]
        let total = max(time.total, 1e-9)
        let split = parts.filter { $0.1 > 0 }.map { String(format: "%@ %.0f%%", $0.0, 100 * $0.1 / total) }.joined(separator: ", ")
        let done = if let tokensPerSecond {
            String(format: "done: %d steps (%.3f epochs) in %@, %.0f tokens/s; validation loss %.4f nats/char (%.4f bits/char), accuracy %.2f%%",
                   summary.steps, summary.epochs, formatDuration(summary.seconds), tokensPerSecond,
                   summary.finalTestLoss, summary.finalTestLoss / M_LN2, 100 * summary.finalTestAccuracy)
        } else {
            String(format: "done: %d steps (%.2f epochs) in %@, %.0f samples/s; test accuracy %.2f%% (best %.2f%% at step %d), test loss %.4f",
                   summary.steps, summary.epochs, formatDuration(summary.seconds), summary.samplesPerSecond,
                   100 * summary.finalTestAccuracy, 100 * summary.bestTestAccuracy, summary.bestStep, summary.finalTestLoss)
        }
        var lines = [done, "time: \(split)"]
        if time.communicationHidden > 0 {
            let all = time.communication + time.communicationHidden
            lines.append(String(format: "communication: %.2f s exposed, %.2f s hidden behind computation (%.0f%% of it)",
                                time.communication, time.communicationHidden, 100 * time.communicationHidden / max(all, 1e-12)))
        }
        if let target = summary.targetAccuracy {
            if let step = summary.targetReachedStep, let epoch = summary.targetReachedEpoch, let seconds = summary.targetReachedTrainingSeconds {
                lines.append(String(format: "reached %.1f%% test accuracy at step %d (epoch %.2f) after %@ of training", 100 * target, step, epoch, formatDuration(seconds)))
            } else {
                lines.append(String(format: "did not reach %.1f%% test accuracy", 100 * target))
            }
        }
        if summary.skippedSteps > 0 { lines.append("skipped \(summary.skippedSteps) steps with a non-finite loss or gradient") }
        lines.append("run folder: \(folder) (config.json, metrics.jsonl, summary.json)")
        return lines.joined(separator: "\n")
    }
}
