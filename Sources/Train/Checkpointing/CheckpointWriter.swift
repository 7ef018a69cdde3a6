import Checkpoint
import Cluster
import Foundation
import Synchronization

/// When to save during a run, and the background thread that writes: rank 0 gathers the state
/// (training waits only for that copy), then a serial queue writes the files while training goes
/// on. A save waits for the previous write to finish; the run's end waits for the last.
public final class CheckpointWriter: Sendable {
    let settings: CheckpointConfig
    let runFolder: String
    /// A test's pause between writing a checkpoint's files and renaming them into place.
    let pause: FaultInjection.CheckpointPause?
    private let queue = DispatchQueue(label: "spectrain.checkpoint-writer")
    private let failure = Mutex<CheckpointError?>(nil)
    private let lastSave = Mutex<ContinuousClock.Instant>(ContinuousClock.now)
    private let reportLine: @Sendable (String) -> Void

    public init(
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

    /// Gathers the state and hands it to the writer.
    func save(trainer: Trainer, progress: TrainingProgress) throws(TrainError) {
        try rethrowFailure()
        guard let contents = try trainer.checkpointContents(progress: progress) else { return }
        queue.sync {}
        try rethrowFailure()
        lastSave.withLock { $0 = .now }
        let step = progress.step
        let (folder, keep) = (runFolder, settings.keep)
        let pause = self.pause.flatMap { $0.step == step ? $0.seconds : nil } ?? 0
        queue.async { [self] in
            do throws(CheckpointError) {
                let written = try CheckpointStore.write(contents, step: step, runFolder: folder, keep: keep, pauseBeforeCommit: pause)
                reportLine("  checkpoint: \(written)")
            } catch {
                failure.withLock { $0 = error }
            }
        }
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
