import Distributed
import Foundation

/// A whole run as `spectrain train` performs it: the run folder, the resolved configuration,
/// the loop, the metrics and the summary.
public enum TrainingRun {
    /// Runs `config` on `communicator`'s ranks. Rank 0 creates `runs/NAME/` with `config.json`
    /// (every default resolved), `metrics.jsonl` and, at the end, `summary.json`; `report`
    /// receives its human-readable lines. An existing non-empty run folder is an error unless
    /// `overwrite` is set, so results are never replaced by accident.
    public static func execute(
        config: TrainConfig, communicator: any Communicator, overwrite: Bool = false,
        report: @escaping (String) -> Void
    ) throws(TrainError) -> TrainSummary {
        let isRoot = communicator.rank == 0
        // Data, model and optimizer first: a run that cannot start leaves no folder behind.
        let trainer = try Trainer(config: config, communicator: communicator, report: isRoot ? report : { _ in })
        let folder = config.runPath
        var metrics: MetricsWriter?
        var folderProblem = ""
        if isRoot {
            do {
                try prepare(folder: folder, config: config, overwrite: overwrite)
                metrics = try MetricsWriter(path: (folder as NSString).appendingPathComponent("metrics.jsonl"), append: false)
            } catch {
                folderProblem = error.message
            }
        }
        // Every rank learns whether rank 0 could set up the folder, and stops with the same error.
        var failed: [Int32] = [folderProblem.isEmpty ? 0 : 1]
        do { try communicator.broadcast(&failed, root: 0) } catch { throw TrainError("\(error)") }
        if failed[0] != 0 { throw TrainError(isRoot ? folderProblem : "rank 0 could not prepare the run folder \(folder)") }
        if isRoot {
            report(trainer.header)
            report(trainer.model.summary)
            if communicator.size > 1 { report(trainer.planDescription) }
        }
        let summary = try trainer.run(metrics: metrics)
        if isRoot {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let path = (folder as NSString).appendingPathComponent("summary.json")
            do {
                try encoder.encode(summary).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw TrainError("\(path): cannot write the summary (\(error.localizedDescription))")
            }
            report(describe(summary, folder: folder))
        }
        return summary
    }

    /// Creates the run folder and writes `config.json` into it.
    static func prepare(folder: String, config: TrainConfig, overwrite: Bool) throws(TrainError) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: folder, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TrainError("\(folder) exists and is not a folder") }
            let contents = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
            if !contents.isEmpty && !overwrite {
                throw TrainError("\(folder) already holds a run; choose another name (--set name=...), remove it, or pass --overwrite")
            }
            for item in contents where overwrite {
                try? manager.removeItem(atPath: (folder as NSString).appendingPathComponent(item))
            }
        }
        do {
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try config.resolvedJSON().write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("config.json")), options: .atomic)
        } catch {
            throw TrainError("\(folder): cannot create the run folder (\(error.localizedDescription))")
        }
    }

    /// The closing lines of a run.
    static func describe(_ summary: TrainSummary, folder: String) -> String {
        let time = summary.time
        let parts: [(String, Double)] = [
            ("data", time.data), ("forward", time.forward), ("backward", time.backward),
            ("communication", time.communication), ("curvature", time.curvature),
            ("precondition", time.precondition), ("optimizer", time.optimizer), ("evaluation", time.evaluation),
        ]
        let total = max(time.total, 1e-9)
        let split = parts.filter { $0.1 > 0 }.map { String(format: "%@ %.0f%%", $0.0, 100 * $0.1 / total) }.joined(separator: ", ")
        var lines = [
            String(format: "done: %d steps (%.2f epochs) in %@, %.0f samples/s; test accuracy %.2f%% (best %.2f%% at step %d), test loss %.4f",
                   summary.steps, summary.epochs, formatDuration(summary.seconds), summary.samplesPerSecond,
                   100 * summary.finalTestAccuracy, 100 * summary.bestTestAccuracy, summary.bestStep, summary.finalTestLoss),
            "time: \(split)",
        ]
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
