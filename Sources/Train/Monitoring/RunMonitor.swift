import Cluster
import Foundation
import Support

/// What a run reports while it trains: the logging window, `metrics.jsonl` lines, factor health,
/// the progress line, test results, and at the end the summary. It also keeps the run's
/// `TrainingProgress`, which every checkpoint saves. Rank 0 writes and reports; the other ranks
/// keep the same counts so that every rank decides alike.
final class RunMonitor {
    /// Where the run stands (restored from a checkpoint on resume).
    private(set) var progress: TrainingProgress
    private var window: Window
    private let metrics: MetricsWriter?
    private let report: (String) -> Void
    private let loop: LoopConfig
    private let divergenceFactor: Double
    private let totalSteps: Int
    private let stepsPerEpoch: Int
    /// Predictions per sample (the context of a language model, 1 for a classifier): the
    /// window's "samples" are predictions.
    private let predictionsPerSample: Int
    /// "test" or "validation".
    private let evaluationName: String
    private let startStep: Int
    private let clock = ContinuousClock()
    private let sessionStart: ContinuousClock.Instant

    init(
        progress: TrainingProgress, metrics: MetricsWriter?, loop: LoopConfig, divergenceFactor: Double, totalSteps: Int,
        stepsPerEpoch: Int, predictionsPerSample: Int = 1, evaluationName: String = "test", report: @escaping (String) -> Void
    ) {
        self.predictionsPerSample = predictionsPerSample
        self.evaluationName = evaluationName
        self.progress = progress
        window = Window(lossSum: progress.windowLossSum, correct: progress.windowCorrect, samples: progress.windowSamples)
        self.metrics = metrics
        self.loop = loop
        self.divergenceFactor = divergenceFactor
        self.totalSteps = totalSteps
        self.stepsPerEpoch = stepsPerEpoch
        self.report = report
        startStep = progress.step
        sessionStart = clock.now
    }

    /// Seconds of this run so far, earlier sessions included.
    var elapsedSeconds: Double { progress.elapsedSeconds + sessionSeconds }

    private var sessionSeconds: Double { sessionStart.duration(to: clock.now).inSeconds }

    // MARK: - Steps

    /// Counts step `step`'s batch into the window and the divergence rule, or, when its loss or
    /// gradient was not finite, as skipped; too many skipped in a row ends the run.
    func recordStep(_ totals: BatchTotals, step: Int) throws(TrainError) {
        progress.lossHealth.record(loss: totals.meanLoss, finite: totals.isFinite, step: step + 1, divergenceFactor: divergenceFactor)
        if totals.isFinite {
            progress.consecutiveNonFinite = 0
        } else {
            progress.skippedSteps += 1
            progress.consecutiveNonFinite += 1
            if progress.consecutiveNonFinite >= loop.maxNonFiniteSteps {
                throw TrainError("training diverged: \(progress.consecutiveNonFinite) consecutive steps with a non-finite loss or gradient (step \(step + 1))")
            }
        }
        window.add(loss: totals.lossSum, correct: Int(totals.correct), samples: Int(totals.samples))
    }

    /// Whether the model is evaluated after step `completed`: at the end of each epoch, every
    /// `evalEvery` steps, and after the last step.
    func evaluationIsDue(after completed: Int) -> Bool {
        completed == totalSteps || completed % stepsPerEpoch == 0 || (loop.evalEvery > 0 && completed % loop.evalEvery == 0)
    }

    /// Whether factor health is measured after step `completed`.
    func healthIsDue(after completed: Int) -> Bool {
        loop.healthEvery > 0 && completed % loop.healthEvery == 0
    }

    /// Records a test evaluation after step `completed`; `stepTimes` are the step's times so far
    /// (the evaluation included), which do not count as training time.
    func recordEvaluation(_ result: (loss: Double, accuracy: Double), after completed: Int, stepTimes: StepTimes) {
        (progress.lastTestLoss, progress.lastTestAccuracy) = (result.loss, result.accuracy)
        if result.accuracy > progress.bestTestAccuracy { (progress.bestTestAccuracy, progress.bestStep) = (result.accuracy, completed) }
        if let goal = loop.targetAccuracy, progress.targetReachedStep == nil, result.accuracy >= goal {
            progress.targetReachedStep = completed
            progress.targetReachedEpoch = Double(completed) / Double(stepsPerEpoch)
            progress.targetReachedTrainingSeconds = elapsedSeconds - (progress.time + stepTimes).evaluation
        }
    }

    /// Closes step `completed`: adds its times, and on the logging cadence (or after an
    /// evaluation, or the last step) writes a metrics line and the progress line.
    func endStep(
        _ completed: Int, times: StepTimes, learningRate: Double, evaluation: (loss: Double, accuracy: Double)?,
        health: [String: FactorHealthRecord]?
    ) throws(TrainError) {
        progress.time = progress.time + times
        window.times = window.times + times
        guard completed % loop.logEvery == 0 || completed == totalSteps || evaluation != nil else { return }
        let now = elapsedSeconds
        let predictionsPerSecond = Double(window.samples) / max(window.times.total - window.times.evaluation - window.times.checkpoint, 1e-9)
        let record = MetricsRecord(
            step: completed, epoch: Double(completed) / Double(stepsPerEpoch),
            loss: window.meanLoss, accuracy: window.accuracy, learningRate: learningRate,
            samplesPerSecond: predictionsPerSecond / Double(predictionsPerSample),
            tokensPerSecond: predictionsPerSample > 1 ? predictionsPerSecond : nil,
            elapsedSeconds: now, time: window.times,
            testLoss: evaluation?.loss, testAccuracy: evaluation?.accuracy, skippedSteps: progress.skippedSteps, health: health)
        try metrics?.write(record)
        report(progressLine(record))
        if let evaluation {
            let loss = predictionsPerSample > 1
                ? String(format: "%.4f nats/char (%.4f bits/char)", evaluation.loss, evaluation.loss / M_LN2)
                : String(format: "%.4f", evaluation.loss)
            report(String(format: "  %@: loss %@  accuracy %.2f%%  (step %d, epoch %.2f)",
                          evaluationName, loss, 100 * evaluation.accuracy, completed, record.epoch))
        }
        window = Window()
    }

    /// The progress a checkpoint after step `completed` saves: the open logging window and the
    /// elapsed time included.
    func checkpointProgress(after completed: Int) -> TrainingProgress {
        progress.step = completed
        (progress.windowLossSum, progress.windowCorrect, progress.windowSamples) = (window.lossSum, window.correct, window.samples)
        var saved = progress
        saved.elapsedSeconds = elapsedSeconds
        return saved
    }

    /// Why the loss says a checkpoint now is not healthy (nil: it is); starts the next
    /// checkpoint's window. Call before `checkpointProgress`.
    func judgeCheckpoint() -> String? {
        progress.lossHealth.judgeCheckpoint(divergenceFactor: divergenceFactor)
    }

    /// Remembers that the checkpoint after `step` became the run's best.
    func recordBestCheckpoint(step: Int, loss: Double) {
        (progress.bestCheckpointStep, progress.bestCheckpointLoss) = (step, loss)
    }

    /// Adds the seconds a checkpoint save held training up.
    func recordCheckpoint(seconds: Double) {
        progress.time.checkpoint += seconds
        window.times.checkpoint += seconds
    }

    // MARK: - Factor health

    /// Every rank's factor health `owned` (measured by each shard's owner), merged on rank 0;
    /// nil on the other ranks. All ranks call this.
    static func gatherHealth(
        _ owned: [String: FactorHealthRecord], communicator: any Communicator
    ) throws(TrainError) -> [String: FactorHealthRecord]? {
        guard communicator.size > 1 else { return owned }
        do {
            let (encoder, decoder) = (NonFiniteJSON.encoder(), NonFiniteJSON.decoder())
            let encoded = String(decoding: try encoder.encode(owned), as: UTF8.self)
            guard let gathered = try communicator.gather(encoded, root: 0) else { return nil }
            var merged: [String: FactorHealthRecord] = [:]
            for text in gathered {
                let records = try decoder.decode([String: FactorHealthRecord].self, from: Data(text.utf8))
                merged.merge(records) { first, _ in first }
            }
            return merged
        } catch {
            throw TrainError("factor health: \(error)")
        }
    }

    // MARK: - Reports

    /// The run's summary after its last step.
    func summary(globalBatch: Int) -> TrainSummary {
        let seconds = elapsedSeconds
        let trainingSeconds = seconds - progress.time.evaluation - progress.time.checkpoint
        return TrainSummary(
            steps: totalSteps, epochs: Double(totalSteps) / Double(stepsPerEpoch), seconds: seconds,
            trainingSeconds: trainingSeconds,
            samplesPerSecond: Double(totalSteps * globalBatch) / max(trainingSeconds, 1e-9),
            tokensPerSecond: predictionsPerSample > 1 ? Double(totalSteps * globalBatch * predictionsPerSample) / max(trainingSeconds, 1e-9) : nil,
            evaluation: evaluationName,
            finalTestLoss: progress.lastTestLoss ?? .nan, finalTestAccuracy: progress.lastTestAccuracy ?? .nan,
            bestTestAccuracy: progress.bestTestAccuracy, bestStep: progress.bestStep, targetAccuracy: loop.targetAccuracy,
            targetReachedStep: progress.targetReachedStep, targetReachedEpoch: progress.targetReachedEpoch,
            targetReachedTrainingSeconds: progress.targetReachedTrainingSeconds, skippedSteps: progress.skippedSteps, time: progress.time)
    }

    private func progressLine(_ record: MetricsRecord) -> String {
        let remaining = Double(totalSteps - record.step) * sessionSeconds / Double(max(record.step - startStep, 1))
        let speed = record.tokensPerSecond.map { String(format: "%.0f tokens/s", $0) } ?? String(format: "%.0f samples/s", record.samplesPerSecond)
        return String(
            format: "step %d/%d  epoch %.2f  loss %.4f  acc %.2f%%  lr %.2e  %@  ETA %@",
            record.step, totalSteps, record.epoch, record.loss, 100 * record.accuracy, record.learningRate,
            speed, formatDuration(remaining))
    }

    /// Sums over the steps since the last logged line.
    struct Window {
        var lossSum = 0.0
        var correct = 0
        var samples = 0
        var times = StepTimes()

        mutating func add(loss: Double, correct: Int, samples: Int) {
            lossSum += loss
            self.correct += correct
            self.samples += samples
        }

        var meanLoss: Double { samples > 0 ? lossSum / Double(samples) : .nan }
        var accuracy: Double { samples > 0 ? Double(correct) / Double(samples) : .nan }
    }
}

/// "1:02:03" or "4:05".
package func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    let (hours, minutes, rest) = (total / 3600, (total / 60) % 60, total % 60)
    return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
}
