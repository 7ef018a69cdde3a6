import ArgumentParser
import Foundation
import Train

/// `spectrain train CONFIG`: trains a model as the configuration says, on one process or under
/// mpirun, writing `runs/NAME/{config.json, metrics.jsonl, summary.json}`.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model (configs/fashion-*.json) and log metrics to runs/NAME/.",
        discussion: """
            Override any configuration field with --set, e.g.
              spectrain train configs/fashion-mlp.json --set optimizer.type=adamw --set name=mlp-adamw
            """)

    @Argument(help: "The JSON configuration.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration field, e.g. --set training.epochs=3.", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(help: "Replace an existing run folder of the same name.")
    var overwrite = false

    @Option(help: ArgumentHelp(
        "Continue a run: its folder (the latest checkpoint), a checkpoint folder, or 'auto': this configuration's run from its newest healthy checkpoint if it has one, else from the start.",
        valueName: "path|auto"))
    var resume: String?

    @Option(help: ArgumentHelp(
        "Signals that stop training at the next step after a checkpoint, exit status 75 (TERM, INT, USR1, USR2, HUP, comma-separated, or none).",
        valueName: "list"))
    var stopSignals = StopSignals.defaultNames.joined(separator: ",")

    @Flag(help: "With --resume: continue in this configuration's run folder (runs/NAME), leaving the checkpoint's run untouched.")
    var branch = false

    @Flag(help: "Print which rank would own which parameter tensor, and exit.")
    var planOnly = false

    @Option(help: ArgumentHelp("With --plan-only: plan for this many ranks (default: the ranks of this job).", valueName: "n"))
    var ranks: Int?

    func validate() throws {
        if let ranks, !(1...OwnershipReport.maxPreviewRanks).contains(ranks) {
            throw ValidationError("--ranks must be in 1...\(OwnershipReport.maxPreviewRanks), got \(ranks)")
        }
        do { _ = try StopSignals.parse(stopSignals) } catch { throw ValidationError(error.message) }
        if ranks != nil && !planOnly { throw ValidationError("--ranks applies to --plan-only only") }
        if branch && resume == nil { throw ValidationError("--branch applies to --resume only") }
        if branch && resume == TrainingRun.automaticResume { throw ValidationError("--branch needs a run or checkpoint folder, not --resume auto") }
        if resume != nil && overwrite && !branch {
            throw ValidationError("--resume continues a run; it cannot be combined with --overwrite (only --branch writes a new run folder)")
        }
    }

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        let settings = try TrainConfig.load(path: config, overrides: overrides)
        let faults = try FaultInjection(environment: ProcessInfo.processInfo.environment)
        let job = try Runtime.start(runtime)
        StopSignals.install(try StopSignals.parse(stopSignals))
        if planOnly {
            job.report(try OwnershipReport.preview(config: settings, ranks: ranks ?? job.communicator.size))
            return
        }
        _ = try TrainingRun.execute(
            config: settings, communicator: job.communicator, overwrite: overwrite, resume: resume, branch: branch, faults: faults
        ) { line in
            Job.printLine(line)
        }
    }
}
