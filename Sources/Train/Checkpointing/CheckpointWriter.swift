import Checkpoint
import Cluster
import Foundation
import Synchronization

/// When to save during a run, and the background thread that writes: rank 0 gathers the state
/// (training waits only for that copy), then a serial queue writes the files while training goes
/// on. A save waits for the previous write to finish; the run's end waits for the last.
package final class CheckpointWriter: Sendable {
    let settings: CheckpointConfig
    let runFolder: String
    /// A test's pause between writing a checkpoint's files and renaming them into place.
    let pause: FaultInjection.CheckpointPause?
    private let queue = DispatchQueue(label: "spectrain.checkpoint-writer")
    private let failure = Mutex<CheckpointError?>(nil)
    private let lastSave = Mutex<ContinuousClock.Instant>(ContinuousClock.now)
    private let reportLine: @Sendable (String) -> Void

    package init(
        settings: CheckpointConfig, runFolder: String, faults: FaultInjection = FaultInjection(),
        report: @escaping @Sendable (String) -> Void
    ) {
        self.settings = settings
        self.runFolder = runFolder
        self.reportLine = report
        pause = faults.checkpointPause
    }

    /// Whether to save after `step` (a collective when saving by time: rank 0's clock decides).
    func isDue(step: Int, isLast: Bool, communicator: any Communicator) throws(TrainError) -> Bool {
        var due = (settings.everySteps > 0 && step % settings.everySteps == 0) || (isLast && settings.atEnd)
        if settings.everyMinutes > 0 {
            var timeIsUp: [Int32] = [lastSave.withLock { $0.duration(to: .now).inSeconds } >= 60 * settings.everyMinutes ? 1 : 0]
            if communicator.size > 1 {
                do { try communicator.broadcast(&timeIsUp, root: 0) } catch { throw TrainError("\(error)") }
            }
            due = due || timeIsUp[0] != 0
        }
        return due
    }

    /// Gathers the state (all ranks call this) and, on rank 0, judges it and hands it to the
    /// writer. `lossProblem` is the divergence rule's verdict (`LossHealth`). A state with a
    /// non-finite parameter or optimizer value is never written; one the loss calls unhealthy is
    /// written but does not become `latest`; a healthy one with the lowest recent loss so far
    /// becomes `best`. Returns what happened on rank 0, nil on the others.
    func save(trainer: Trainer, progress: TrainingProgress, lossProblem: String?) throws(TrainError) -> CheckpointOutcome? {
        try rethrowFailure()
        guard var contents = try trainer.checkpointContents(progress: progress) else { return nil }
        let step = progress.step
        if let problem = CheckpointHealth.nonFiniteTensor(in: contents) {
            reportLine("  checkpoint after step \(step) not written: \(problem); 'latest' still names the last healthy checkpoint")
            return CheckpointOutcome(folder: nil, health: CheckpointHealth(healthy: false, reason: problem, recentLoss: nil, best: false))
        }
        let recentLoss = progress.lossHealth.recentLoss
        let isBest = lossProblem == nil && recentLoss.map { loss in progress.bestCheckpointLoss.map { loss < $0 } ?? true } ?? false
        let health = CheckpointHealth(healthy: lossProblem == nil, reason: lossProblem, recentLoss: recentLoss, best: isBest)
        contents.manifest["health"] = try CheckpointManifest.jsonValue(health)
        queue.sync {}
        try rethrowFailure()
        lastSave.withLock { $0 = .now }
        let (folder, keep) = (runFolder, settings.keep)
        let pause = self.pause.flatMap { $0.step == step ? $0.seconds : nil } ?? 0
        let frozen = contents
        queue.async { [self] in
            do throws(CheckpointError) {
                let written = try CheckpointStore.write(
                    frozen, step: step, runFolder: folder, keep: keep, advanceLatest: health.healthy, markBest: health.best,
                    pauseBeforeCommit: pause)
                let note = health.healthy ? (health.best ? " (best so far)" : "")
                    : " (not healthy: \(health.reason ?? ""); 'latest' still names the last healthy checkpoint)"
                reportLine("  checkpoint: \(written)\(note)")
            } catch {
                failure.withLock { $0 = error }
            }
        }
        return CheckpointOutcome(folder: (folder as NSString).appendingPathComponent(CheckpointStore.folderName(step: step)), health: health)
    }

    /// Waits for the last write; reports a failed one.
    func finish() throws(TrainError) {
        queue.sync {}
        try rethrowFailure()
    }

    private func rethrowFailure() throws(TrainError) {
        if let error = failure.withLock({ $0 }) { throw TrainError("checkpoint not saved: \(error)") }
    }
}

/// What a save did on rank 0: the folder it is being written to (nil when the state was not
/// finite and nothing is written) and how healthy it was.
struct CheckpointOutcome {
    var folder: String?
    var health: CheckpointHealth
}
