import Checkpoint
import Cluster
import Foundation

/// A whole run as `spectrain train` performs it: the run folder, the resolved configuration,
/// the loop, the metrics and the summary.
public enum TrainingRun {
    /// Runs `config` on `communicator`'s ranks. Rank 0 creates `runs/NAME/` with `config.json`
    /// (every default resolved), `metrics.jsonl`, checkpoints on the configured cadence and, at the
    /// end, `summary.json`; `report` receives its human-readable lines. An existing non-empty run
    /// folder is an error unless `overwrite` is set, so results are never replaced by accident.
    ///
    /// With `resume` (a run folder, whose `latest` checkpoint is used, or a checkpoint folder),
    /// rank 0 reads and validates the checkpoint before anything is changed, then the state goes
    /// to the ranks of this job (any world size) and training continues in that run folder, or,
    /// with `branch`, in `config`'s own run folder, which starts with the checkpoint's metrics
    /// lines and leaves the original run untouched.
    public static func execute(
        config: TrainConfig, communicator: any Communicator, overwrite: Bool = false, resume: String? = nil,
        branch: Bool = false, report: @escaping @Sendable (String) -> Void
    ) throws(TrainError) -> TrainSummary {
        let isRoot = communicator.rank == 0
        let silent: @Sendable (String) -> Void = { _ in }
        let output = isRoot ? report : silent
        // Data, model and optimizer first: a run that cannot start leaves no folder behind.
        let trainer = try Trainer(config: config, communicator: communicator, report: output)
        var folder = config.runPath
        var progress = Trainer.Progress()
        var metrics: MetricsWriter?
        var contents: CheckpointContents?
        var checkpointFolder = ""
        var problem = ""
        if isRoot {
            do throws(TrainError) {
                if let resume {
                    do {
                        checkpointFolder = try CheckpointStore.resolve(resume)
                        contents = try CheckpointStore.read(checkpointFolder)
                    } catch {
                        throw TrainError("\(error)")
                    }
                    progress = try trainer.validate(contents!, folder: checkpointFolder)
                    let source = (checkpointFolder as NSString).deletingLastPathComponent
                    if branch {
                        try startBranch(folder: folder, from: source, lines: progress.metricsLines, config: config, overwrite: overwrite)
                    } else {
                        folder = source
                    }
                } else {
                    try prepare(folder: folder, config: config, overwrite: overwrite)
                    metrics = try MetricsWriter(path: (folder as NSString).appendingPathComponent("metrics.jsonl"), append: false)
                }
            } catch {
                problem = error.message
            }
        }
        try stopUnlessRootSucceeded(problem, communicator: communicator, otherRanks: "rank 0 could not start the run")

        if resume != nil {
            progress = try broadcast(progress, communicator: communicator)
            try trainer.restore(from: contents)
            if isRoot {
                // A branch's folder was just written with exactly these lines and this config.
                let keptAside = branch ? [] : try continueMetrics(folder: folder, lines: progress.metricsLines, step: progress.step, config: config)
                for line in keptAside { report(line) }
                metrics = try MetricsWriter(path: (folder as NSString).appendingPathComponent("metrics.jsonl"), append: true)
            }
        }
        if isRoot {
            report(trainer.header)
            report(trainer.model.summary)
            if communicator.size > 1 { report(trainer.planDescription) }
            if resume != nil {
                report(branch ? "branched from \(checkpointFolder) at step \(progress.step) into \(folder)"
                              : "resumed from \(checkpointFolder) at step \(progress.step)")
            }
        }
        let cadence = CheckpointCadence(settings: config.checkpoint, runFolder: folder, report: output)
        let summary = try trainer.run(metrics: metrics, from: progress, checkpoints: cadence)
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

    /// Every rank learns whether rank 0 got through work only it does (`problem` empty), and
    /// stops if not: rank 0 with `problem`, the others quietly with `otherRanks`.
    static func stopUnlessRootSucceeded(_ problem: String, communicator: any Communicator, otherRanks: String) throws(TrainError) {
        var failed: [Int32] = [problem.isEmpty ? 0 : 1]
        do { try communicator.broadcast(&failed, root: 0) } catch { throw TrainError("\(error)") }
        if failed[0] != 0 {
            let isRoot = communicator.rank == 0
            throw TrainError(isRoot ? problem : otherRanks, quiet: !isRoot)
        }
    }

    /// Rank 0's progress, on every rank.
    static func broadcast(_ progress: Trainer.Progress, communicator: any Communicator) throws(TrainError) -> Trainer.Progress {
        do {
            let encoded = communicator.rank == 0 ? [UInt8](try JSONEncoder().encode(progress)) : []
            let bytes = try communicator.broadcast(bytes: encoded, root: 0)
            return try JSONDecoder().decode(Trainer.Progress.self, from: Data(bytes))
        } catch {
            throw TrainError("resume: \(error)")
        }
    }

    /// Keeps the first `lines` lines of the run's metrics (those logged up to the checkpoint at
    /// `step`) and writes the continuing run's resolved configuration. Nothing is lost: metrics
    /// logged after the checkpoint move to `metrics-superseded-at-step-N.jsonl`, and a
    /// `config.json` that differs from the new one to `config-superseded-at-step-N.json`.
    /// Returns a line per file kept aside.
    static func continueMetrics(folder: String, lines: Int, step: Int, config: TrainConfig) throws(TrainError) -> [String] {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        let metricsPath = path("metrics.jsonl")
        let configPath = path("config.json")
        var keptAside: [String] = []
        do {
            let all = metricsLines(in: folder)
            let superseded = all.dropFirst(lines)
            if !superseded.isEmpty {
                let aside = try unusedPath(folder: folder, stem: "metrics-superseded-at-step-\(step)", extension: "jsonl")
                try writeLines(superseded, to: aside)
                keptAside.append("kept the \(superseded.count) metrics lines logged after step \(step) in \(aside)")
            }
            try writeLines(all.prefix(lines), to: metricsPath)
            let resolved = try config.resolvedJSON()
            if let previous = FileManager.default.contents(atPath: configPath), previous != resolved {
                let aside = try unusedPath(folder: folder, stem: "config-superseded-at-step-\(step)", extension: "json")
                try previous.write(to: URL(fileURLWithPath: aside), options: .atomic)
                keptAside.append("the configuration changed; kept the previous config.json as \(aside)")
            }
            try resolved.write(to: URL(fileURLWithPath: configPath), options: .atomic)
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("\(folder): cannot prepare the run folder to continue (\(error.localizedDescription))")
        }
        return keptAside
    }

    /// The non-empty lines of `folder/metrics.jsonl` (none when it is missing).
    static func metricsLines(in folder: String) -> [Substring] {
        let text = (try? String(contentsOfFile: (folder as NSString).appendingPathComponent("metrics.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: true)
    }

    /// Writes `lines`, each ended by a newline, to `path` atomically.
    static func writeLines(_ lines: ArraySlice<Substring>, to path: String) throws {
        try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// `folder/stem.extension`, or `stem-2`, `stem-3`, ... if taken (a run resumed twice from
    /// the same checkpoint keeps both earlier continuations).
    static func unusedPath(folder: String, stem: String, extension suffix: String) throws(TrainError) -> String {
        for attempt in 1...10_000 {
            let name = attempt == 1 ? "\(stem).\(suffix)" : "\(stem)-\(attempt).\(suffix)"
            let candidate = (folder as NSString).appendingPathComponent(name)
            if !FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw TrainError("\(folder): no free name for \(stem).\(suffix)")
    }

    /// Creates the run folder `folder` of a branch from the run in `source`, with `config.json`
    /// and the first `lines` lines of the source's metrics (those logged up to the checkpoint).
    static func startBranch(folder: String, from source: String, lines: Int, config: TrainConfig, overwrite: Bool) throws(TrainError) {
        func canonical(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        guard canonical(folder) != canonical(source) else {
            throw TrainError("--branch: \(folder) is the checkpoint's own run folder; choose another name (--set name=...) or resume without --branch")
        }
        let kept = metricsLines(in: source).prefix(lines)
        try prepare(folder: folder, config: config, overwrite: overwrite)
        let path = (folder as NSString).appendingPathComponent("metrics.jsonl")
        do {
            try writeLines(kept, to: path)
        } catch {
            throw TrainError("\(path): cannot write (\(error.localizedDescription))")
        }
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
            ("checkpoint", time.checkpoint),
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
