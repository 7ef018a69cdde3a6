import Checkpoint
import Cluster
import Datasets
import Foundation
import Spectral
import Support

/// A whole run as `spectrain train` performs it: the run folder, the resolved configuration,
/// resuming, the loop, the metrics and the summary.
package enum TrainingRun {
    /// Runs `config` on `communicator`'s ranks. Rank 0 creates `runs/NAME/` with `config.json`
    /// (every default resolved), `metrics.jsonl`, checkpoints on the configured cadence and, at the
    /// end, `summary.json`; `report` receives its human-readable lines. An existing non-empty run
    /// folder is an error unless `overwrite` is set, so results are never replaced by accident.
    ///
    /// With `resume` (a run folder, whose `latest` checkpoint is used, or a checkpoint folder),
    /// rank 0 reads and validates the checkpoint before anything is changed, then the state goes
    /// to the ranks of this job (any world size) and training continues in that run folder, or,
    /// with `branch`, in `config`'s own run folder, which starts with the checkpoint's metrics
    /// lines and leaves the original run untouched. `resume` "auto" continues `config`'s run
    /// folder from its newest healthy complete checkpoint when it has one (falling back past a
    /// missing or damaged `latest`, and saying so), and starts the run afresh otherwise, so one
    /// command serves every restart of a job. `faults` are test faults to inject; `stopRequest`
    /// ends the run early at a step boundary, after a checkpoint (see `Trainer.run`).
    ///
    /// A `maxFactorDimension` of "auto" becomes a number before anything is built: the
    /// checkpoint's when the run continues from one, else `AutoBlocking`'s for this job's ranks;
    /// the run folder, the checkpoints and the log carry the number.
    package static func execute(
        config: TrainConfig, communicator: any Communicator, overwrite: Bool = false, resume: String? = nil,
        branch: Bool = false, faults: FaultInjection = FaultInjection(), stopRequest: StopRequest = .signals,
        report: @escaping @Sendable (String) -> Void
    ) throws(TrainError) -> TrainSummary {
        let isRoot = communicator.rank == 0
        let silent: @Sendable (String) -> Void = { _ in }
        let output = isRoot ? report : silent
        // The checkpoint first (rank 0 reads it, nothing is written): it decides an "auto" blocking.
        var origin = Origin.new
        var problem = ""
        if isRoot, let resume {
            do throws(TrainError) {
                if resume == automaticResume {
                    origin = try locateAutomatically(folder: config.runPath, report: report)
                } else {
                    origin = .checkpoint(try readCheckpoint(resume))
                }
            } catch {
                problem = error.message
            }
        }
        try stopUnlessRootSucceeded(problem, communicator: communicator, otherRanks: "rank 0 could not start the run")
        let (config, blocking) = try resolveBlocking(config, origin: origin, communicator: communicator)
        // Data, model and optimizer next: a run that cannot start leaves no folder behind.
        let trainer = try Trainer(config: config, communicator: communicator, faults: faults, stopRequest: stopRequest, report: output)
        var start = Start(folder: config.runPath)
        if isRoot {
            do throws(TrainError) {
                switch origin {
                case .new: start = try startNew(config: config, overwrite: overwrite)
                case .afresh: start = try startAfresh(config: config, report: report)
                case .checkpoint(let found): start = try self.start(from: found, branch: branch, trainer: trainer, overwrite: overwrite)
                }
            } catch {
                problem = error.message
            }
        }
        try stopUnlessRootSucceeded(problem, communicator: communicator, otherRanks: "rank 0 could not start the run")
        let resumed = try rootDecides(start.checkpoint != nil, communicator: communicator)
        if resumed {
            try continueFromCheckpoint(&start, trainer: trainer, report: output)
        }
        if isRoot {
            if let vocabulary = (trainer.workload as? LanguageModeling)?.vocabulary { try write(vocabulary, folder: start.folder) }
            startLines(trainer, start: start, resumed: resumed, branch: branch, blocking: blocking).forEach(report)
        }
        let writer = CheckpointWriter(settings: config.checkpoint, runFolder: start.folder, faults: faults, report: output)
        let summary = try trainer.run(metrics: start.metrics, from: start.progress, checkpoints: writer)
        if isRoot {
            try write(summary, folder: start.folder)
            report(summary.closingLines(folder: start.folder))
        }
        return summary
    }

    /// The `--resume` value that means "continue this configuration's run if it has a checkpoint".
    package static let automaticResume = "auto"

    /// Where a run starts from, as rank 0 finds it before anything is built.
    enum Origin {
        /// A new run folder.
        case new
        /// `--resume auto` without a checkpoint: a fresh start in the existing run folder.
        case afresh
        /// A checkpoint read and checked against its checksums (not yet against this run).
        case checkpoint((folder: String, contents: CheckpointContents))
    }

    /// `--resume auto` on rank 0: the run folder's newest healthy complete checkpoint (falling back
    /// past a missing or damaged `latest`, and saying so), else a fresh start.
    private static func locateAutomatically(folder: String, report: (String) -> Void) throws(TrainError) -> Origin {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        guard !CheckpointStore.checkpoints(in: folder).isEmpty || entries.contains("latest") else {
            return entries.isEmpty ? .new : .afresh
        }
        do {
            return .checkpoint(try readCheckpoint(folder))
        } catch let latestProblem {
            let healthy: (CheckpointContents) -> Bool = { $0.manifest["health"]?["healthy"] != .bool(false) }
            guard let fallback = CheckpointStore.newestComplete(in: folder, accept: healthy) else {
                throw TrainError("--resume auto: \(latestProblem.message); and no other checkpoint in \(folder) is complete and healthy")
            }
            report("--resume auto: \(latestProblem.message)")
            for skipped in fallback.skipped { report("  skipped \(skipped)") }
            report("--resume auto: continuing from the newest complete healthy checkpoint, \(fallback.folder)")
            return .checkpoint(try readCheckpoint(fallback.folder))
        }
    }

    /// `--resume auto` on a run folder that holds no checkpoint: the run starts afresh in it,
    /// its earlier metrics kept aside (rank 0).
    private static func startAfresh(config: TrainConfig, report: (String) -> Void) throws(TrainError) -> Start {
        let folder = config.runPath
        report("--resume auto: \(folder) holds no checkpoint; starting the run afresh")
        for line in try RunFolder.continueMetrics(folder: folder, step: 0, config: config) { report(line) }
        let metrics = try MetricsWriter(path: (folder as NSString).appendingPathComponent("metrics.jsonl"), append: true)
        return Start(folder: folder, metrics: metrics)
    }

    /// `config` with a `maxFactorDimension` of "auto" made rank 0's number on every rank: a
    /// checkpoint's own (its optimizer state is blocked at it), else `AutoBlocking`'s choice for
    /// this job's ranks. Returns, on rank 0, what auto became; a number stays as it is. When the
    /// data cannot be read for the model's shapes, auto stays: building the model reports why.
    private static func resolveBlocking(
        _ config: TrainConfig, origin: Origin, communicator: any Communicator
    ) throws(TrainError) -> (TrainConfig, AutoBlocking.Choice?) {
        guard config.optimizer.preconditioner.factorDimensionLimit == .auto else { return (config, nil) }
        var choice: AutoBlocking.Choice?
        if communicator.rank == 0 {
            if case .checkpoint(let found) = origin,
               let saved = try? found.contents.manifest["config"]?["optimizer"]?["preconditioner"]?["maxFactorDimension"]?.decoded(as: FactorDimensionLimit.self),
               let limit = saved.fixedValue {
                choice = AutoBlocking.Choice(limit: limit, ranks: communicator.size, basis: .checkpoint)
            } else if let shapes = config.parameterShapes() {
                choice = AutoBlocking.choose(shapes: shapes, optimizer: config.optimizer, ranks: communicator.size)
            }
        }
        var limit = [Int64(choice?.limit ?? 0)]
        do { try communicator.broadcast(&limit, root: 0) } catch { throw TrainError("\(error)") }
        guard limit[0] > 0 else { return (config, nil) }
        var resolved = config
        resolved.optimizer.preconditioner.maxFactorDimension = Int(limit[0])
        return (resolved, choice)
    }

    /// Where a run starts: its folder, and on rank 0 the metrics file and, when resuming, the
    /// checkpoint read.
    struct Start {
        var folder: String
        var progress = TrainingProgress()
        var metrics: MetricsWriter?
        var checkpoint: (folder: String, contents: CheckpointContents)?
    }

    /// A new run: its folder, `config.json` and an empty `metrics.jsonl` (rank 0).
    private static func startNew(config: TrainConfig, overwrite: Bool) throws(TrainError) -> Start {
        try RunFolder.create(config.runPath, config: config, overwrite: overwrite)
        let metrics = try MetricsWriter(path: (config.runPath as NSString).appendingPathComponent("metrics.jsonl"), append: false)
        return Start(folder: config.runPath, metrics: metrics)
    }

    /// The checkpoint `path` names (a checkpoint folder, or a run folder's `latest`), read and
    /// checked against its checksums.
    private static func readCheckpoint(_ path: String) throws(TrainError) -> (folder: String, contents: CheckpointContents) {
        do {
            let folder = try CheckpointStore.resolve(path)
            return (folder, try CheckpointStore.read(folder))
        } catch {
            throw TrainError("\(error)")
        }
    }

    /// Validates a checkpoint read from `found.folder` for this run and, for a branch, creates
    /// the new run folder (rank 0).
    private static func start(
        from found: (folder: String, contents: CheckpointContents), branch: Bool, trainer: Trainer, overwrite: Bool
    ) throws(TrainError) -> Start {
        let (folder, contents) = found
        let progress = try trainer.validate(contents, folder: folder)
        let source = (folder as NSString).deletingLastPathComponent
        var start = Start(folder: source, progress: progress, checkpoint: (folder, contents))
        if branch {
            start.folder = trainer.config.runPath
            try RunFolder.startBranch(folder: start.folder, from: source, config: trainer.config, overwrite: overwrite)
        }
        return start
    }

    /// Gives every rank the checkpoint's progress and state and, on rank 0, reopens the metrics
    /// of the run folder where training continues.
    private static func continueFromCheckpoint(
        _ start: inout Start, trainer: Trainer, report: (String) -> Void
    ) throws(TrainError) {
        let communicator = trainer.communicator
        start.progress = try broadcast(start.progress, communicator: communicator)
        try trainer.restore(from: start.checkpoint?.contents)
        guard communicator.rank == 0 else { return }
        // A branch's folder holds a copy of the source's metrics, cut here as for a resume.
        let keptAside = try RunFolder.continueMetrics(folder: start.folder, step: start.progress.step, config: trainer.config)
        for line in keptAside { report(line) }
        start.metrics = try MetricsWriter(path: (start.folder as NSString).appendingPathComponent("metrics.jsonl"), append: true)
    }

    /// The opening lines of the log: the run, the model, the plan on several ranks, what an
    /// "auto" `maxFactorDimension` and `distributed.overlap` became, and where a resumed run continues from.
    private static func startLines(_ trainer: Trainer, start: Start, resumed: Bool, branch: Bool, blocking: AutoBlocking.Choice?) -> [String] {
        var lines = [trainer.header, trainer.model.summary]
        if trainer.communicator.size > 1 {
            let sharded = trainer.sharded
            lines.append(OwnershipReport.describe(shards: sharded.shards, plan: sharded.plan, optimizer: trainer.config.optimizer, automatic: blocking))
            if let overlap = sharded.overlapChoice { lines.append(overlap) }
            if trainer.config.distributed.exchangeDType == .bfloat16 {
                lines.append("distributed.exchangeDType bfloat16: gradients and parameter steps travel in bfloat16 (half the bytes); sums and parameters stay Float32")
            }
        } else if let blocking {
            lines.append(blocking.description)
        }
        if resumed, let checkpoint = start.checkpoint {
            lines.append(branch ? "branched from \(checkpoint.folder) at step \(start.progress.step) into \(start.folder)"
                                : "resumed from \(checkpoint.folder) at step \(start.progress.step)")
        }
        return lines
    }

    /// Writes a language model's `vocabulary.json` into the run folder (its checkpoints carry it too).
    static func write(_ vocabulary: CharacterVocabulary, folder: String) throws(TrainError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let path = (folder as NSString).appendingPathComponent("vocabulary.json")
        do {
            try RunFolder.write(try encoder.encode(vocabulary), to: path)
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("\(path): cannot write the vocabulary (\(error.localizedDescription))")
        }
    }

    /// Writes `summary.json` into the run folder.
    static func write(_ summary: TrainSummary, folder: String) throws(TrainError) {
        let encoder = NonFiniteJSON.encoder([.prettyPrinted, .sortedKeys])
        let path = (folder as NSString).appendingPathComponent("summary.json")
        do {
            try encoder.encode(summary).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw TrainError("\(path): cannot write the summary (\(error.localizedDescription))")
        }
    }

    /// Every rank learns whether rank 0 got through work only it does (`problem` empty), and
    /// stops if not: rank 0 with `problem`, the others quietly with `otherRanks`.
    package static func stopUnlessRootSucceeded(_ problem: String, communicator: any Communicator, otherRanks: String) throws(TrainError) {
        if try rootDecides(!problem.isEmpty, communicator: communicator) {
            let isRoot = communicator.rank == 0
            throw TrainError(isRoot ? problem : otherRanks, quiet: !isRoot)
        }
    }

    /// Rank 0's `decision`, on every rank.
    static func rootDecides(_ decision: Bool, communicator: any Communicator) throws(TrainError) -> Bool {
        var flag: [Int32] = [decision ? 1 : 0]
        do { try communicator.broadcast(&flag, root: 0) } catch { throw TrainError("\(error)") }
        return flag[0] != 0
    }

    /// Rank 0's progress, on every rank.
    static func broadcast(_ progress: TrainingProgress, communicator: any Communicator) throws(TrainError) -> TrainingProgress {
        do {
            let encoded = communicator.rank == 0 ? [UInt8](try NonFiniteJSON.encoder().encode(progress)) : []
            let bytes = try communicator.broadcast(bytes: encoded, root: 0)
            return try NonFiniteJSON.decoder().decode(TrainingProgress.self, from: Data(bytes))
        } catch {
            throw TrainError("resume: \(error)")
        }
    }
}
