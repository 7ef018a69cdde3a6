import ArgumentParser
import Checkpoint
import Foundation
import DistributedSearch
import GradientFree
import Support
import Train

/// `spectrain es CONFIG`: gradient-free minimisation by covariance adaptation, the spectral step
/// against exact xNES on the same samples, with the evaluations spread over the ranks.
struct ES: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "es",
        abstract: "Minimise a function without gradients: CMA-ES with a spectral covariance, the xNES form, exact xNES.",
        discussion: """
            Objectives (configs/es-*.json), as pycma and BBOB define them, each of z = Q (x - o) with minimum 0:
            sphere, ellipsoid, cigar, discus ("condition" c, default 1e6), differentPowers, sharpRidge, rastrigin,
            rosenbrock (minimum at z = 1). Q is a random rotation from "rotationSeed" unless "rotated": false
            (rosenbrock: unrotated unless "rotated": true); o is "shift" (default 0); "shift" and "start" are one
            number or one per coordinate. Or your own: "type": "command", "command": ["python3", "f.py"] reads
            points (one per line, numbers separated by spaces) on its standard input and writes one value per line,
            each within "timeoutSeconds" (default 300; the command is killed and the job fails otherwise). With
            "protocol": "batch" (default "point") every message is a line "batch <count>" then <count> points, one
            per line (a rank's share of an iteration's samples in one message), answered by <count> lines, one value
            each, in order, all within "timeoutSeconds" (configs/objectives/rosenbrock_batch.py). The command runs
            in its own process group and is killed when spectrain ends, however it ends. Each method
            starts from the same point and draws the same samples; a run stops when f(mean) falls below the target.
            "objective.bounds": {"lower": L, "upper": U} (one number or one per coordinate, a side left out is
            unbounded) evaluate the function only inside the box (pycma's BoundTransform); the reported points are
            inside it. Noise: "evaluationsPerCandidate" (ranked by their median, all counted), "targetConfirmations"
            (a run stops only when that many evaluations of f(mean) are all below the target); "objective.noise"
            puts a built-in behind Gaussian noise ("noiseType" multiplicative or additive). --run FOLDER writes
            metrics.jsonl (one line per iteration, drawn by spectrain plot) and a checkpoint every "checkpointEvery"
            iterations; --resume FOLDER continues bit for bit.
            Methods ("methods"): cma (the default: CMA-ES, its covariance moved by the spectral step), spectral
            (the xNES form), xnes (exact xNES, one eigendecomposition per iteration), cmaExact (CMA-ES with C updated
            exactly and decomposed every iteration: the reference for cma). The final mean (the
            solution) and the best sample are printed, and with --result written as JSON lines. Under mpirun each
            rank evaluates a share of every iteration's samples. Float64.
            """)

    @Argument(help: "The JSON configuration.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration field, e.g. --set objective.dimension=20.", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(help: "Print the outcome of each method as one JSON line instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Also write each method's outcome, with its final mean and best sample, as a JSON line to this file (rank 0; replaced whole).", valueName: "path"))
    var result: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("Write metrics.jsonl (a line per iteration, for spectrain plot) and checkpoints (every checkpointEvery iterations and at the end of each method) into this folder.", valueName: "folder"))
    var runFolder: String?

    @Option(help: ArgumentHelp("Continue the job in this run folder from its latest checkpoint (same configuration; maxEvaluations, logEvery and checkpointEvery may change).", valueName: "folder"))
    var resume: String?

    @Flag(help: "With --run: replace the metrics and checkpoints of an earlier run in the folder.")
    var overwrite = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if runFolder != nil && resume != nil { throw ValidationError("--run starts a new run and --resume continues one: give one of them") }
        if overwrite && runFolder == nil { throw ValidationError("--overwrite applies to --run only") }
    }

    func run() throws {
        let settings = try ConfigurationFile.load(ESConfiguration.self, from: config, overrides: overrides)
        let job = try Runtime.start(runtime)
        let (objective, start) = Self.objective(settings.objective, seed: settings.seed)
        // The user's command ends with the job, bounded or not.
        defer { (((objective as? BoundedObjective)?.objective ?? objective) as? CommandObjective)?.finish() }
        let n = settings.objective.dimension
        // The run folder and, resuming, where the job left off.
        var folder: ESRunFolder?
        var resumed: ESCheckpoint?
        // What a checkpoint records of the configuration, and with a run folder, TERM, INT and USR1
        // stop the job after a checkpoint (exit status 75).
        let configuration = runFolder != nil || resume != nil ? try settings.compatibility() : JSONValue.null
        if runFolder != nil || resume != nil { StopSignals.install(try StopSignals.parse(StopSignals.defaultNames.joined(separator: ","))) }
        if let runFolder {
            folder = try ESRunFolder.create(runFolder, overwrite: overwrite, communicator: job.communicator)
        } else if let resume {
            // With --json the standard output holds only the outcomes.
            let note: (String) -> Void = { line in
                if json { if job.communicator.rank == 0 { Job.printError("spectrain: note: " + line) } } else { job.report(line) }
            }
            let (opened, checkpoint) = try ESRunFolder.resume(
                resume, configuration: configuration, methodCount: settings.methods.count,
                communicator: job.communicator, note: note)
            (folder, resumed) = (opened, checkpoint)
            note("resuming \(resume) at iteration \(checkpoint.step): \(checkpoint.methodIndex) of \(settings.methods.count) methods done")
        }
        if !json {
            let type = settings.objective.type
            let condition = type.builtIn?.hasCondition == true ? ", condition \(format(settings.objective.condition))" : ""
            let xnesRate = settings.methods.contains { $0 == .spectral || $0 == .xnes } ? ", eta_S = \(format(settings.search.covarianceRate(dimension: n)))" : ""
            job.report("es \(type.name): n = \(n)\(condition), \(settings.search.population(dimension: n)) samples per iteration\(xnesRate), seed \(settings.seed), target f(mean) < \(String(format: "%g", settings.target)), on \(job.communicator.size) rank\(job.communicator.size == 1 ? "" : "s")")
        }
        var outcomes = resumed?.completed ?? []
        var stepsBefore = outcomes.reduce(0) { $0 + $1.iterations }
        for (index, method) in settings.methods.enumerated() where index >= outcomes.count {
            let runSettings = settings.runSettings(method: method, start: start)
            let searchRun: SearchRun
            if let state = resumed?.state, resumed?.methodIndex == index {
                do { searchRun = try SearchRun(settings: runSettings, resumingFrom: state) } catch {
                    throw ValidationError("\(resume ?? ""): \(error)")
                }
            } else {
                searchRun = try SearchRun(settings: runSettings)
            }
            let report = AdaptationRun.reporter(logEvery: json ? 0 : settings.logEvery) { iteration, evaluations, meanValue, best, search in
                var line = String(format: "  %@: iteration %d, %d evaluations, f(mean) %.3e, best sample %.3e",
                                  method.rawValue, iteration, evaluations, meanValue, best)
                if let spread = search.axisStandardDeviations {
                    line += String(format: ", axis spread %.2e..%.2e", spread.smallest, spread.largest)
                }
                if search.population != settings.search.population(dimension: n) { line += ", population \(search.population)" }
                job.report(line)
            }
            let completed = outcomes
            let outcome = try searchRun.run(objective: objective, communicator: job.communicator) { run in
                report?(run)
                guard let folder else { return }
                let step = stepsBefore + run.iterations
                try folder.append(SearchRecord(step: step, run: run))
                // A stop signal on any rank stops every rank after this iteration, with a checkpoint.
                let stopping = try job.communicator.allreduce(Int32(StopSignals.pending == nil ? 0 : 1), operation: .max) > 0
                var saved: String?
                if stopping || run.iterations % settings.checkpointEvery == 0 {
                    var state = SearchState()
                    run.save(into: &state)
                    saved = try folder.save(
                        ESCheckpoint(step: step, configuration: configuration, methodIndex: index, completed: completed, state: state),
                        mean: run.search.mean)
                }
                if stopping { throw Self.stopped(after: step, checkpoint: saved, folder: folder.path, rank: job.communicator.rank) }
            }
            outcomes.append(Self.feasible(outcome, objective: objective))
            stepsBefore += outcome.iterations
            try folder?.save(
                ESCheckpoint(step: stepsBefore, configuration: configuration, methodIndex: index + 1, completed: outcomes, state: nil),
                mean: outcome.mean)
        }
        try report(outcomes, job: job)
        if let result, job.communicator.rank == 0 { try Self.write(outcomes, to: result) }
        let broken = outcomes.filter { $0.stopReason == .nonFiniteMean }
        if !broken.isEmpty {
            throw ValidationError("stopped: f(mean) was not a finite number (\(broken.map { "\($0.method) after \($0.evaluations) evaluations" }.joined(separator: ", ")))")
        }
        let missed = outcomes.filter { $0.stopReason == .evaluations || $0.stopReason == .stagnation }
            .map { $0.restarts > 0 ? "\($0.method) (\($0.restarts) restarts)" : $0.method }
        if !missed.isEmpty {
            throw ValidationError("did not reach f(mean) < \(String(format: "%g", settings.target)) within \(settings.maxEvaluations) evaluations: \(missed.joined(separator: ", "))")
        }
    }

    /// The error that ends a job stopped by a signal after iteration `step` (exit status 75),
    /// quiet on ranks other than 0.
    static func stopped(after step: Int, checkpoint: String?, folder: String, rank: Int) -> TrainError {
        let signal = StopSignals.pending
        var error = TrainError(TrainingStopped(step: step, signal: signal, checkpoint: checkpoint), quiet: rank != 0)
        let cause = signal.map { StopSignals.name(of: $0) } ?? "a stop signal to another rank"
        error.message = "stopped by \(cause) after iteration \(step); saved \(checkpoint ?? folder); continue with --resume \(folder) (exit status \(StopSignals.exitCode))"
        return error
    }

    /// `outcome` with its mean and best sample as the points the function saw: inside the box
    /// when the objective is bounded, as searched otherwise.
    static func feasible(_ outcome: AdaptationRun.Outcome, objective: any ObjectiveFunction) -> AdaptationRun.Outcome {
        guard let bounded = objective as? BoundedObjective else { return outcome }
        var inBox = outcome
        (inBox.mean, inBox.bestSample) = (bounded.feasible(outcome.mean), bounded.feasible(outcome.bestSample))
        return inBox
    }

    /// The outcomes as JSON lines, sorted keys, non-finite numbers as strings.
    static func jsonLines(_ outcomes: [AdaptationRun.Outcome]) throws -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = NonFiniteJSON.encoding
        return try outcomes.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
    }

    /// Writes the outcomes to `path` (a temporary file renamed over it: never half-written).
    static func write(_ outcomes: [AdaptationRun.Outcome], to path: String) throws {
        let text = try jsonLines(outcomes).map { $0 + "\n" }.joined()
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ValidationError("--result \(path): cannot write (\((error as NSError).localizedDescription))")
        }
    }

    /// The objective the configuration names, and the point every method starts from: a
    /// built-in `Objective` with its condition, rotation and shift, or the user's command.
    static func objective(_ settings: ESConfiguration.ObjectiveSettings, seed: UInt64) -> (any ObjectiveFunction, [Double]) {
        let objective: any ObjectiveFunction
        switch settings.type {
        case .builtIn(let kind):
            let function = Objective(
                kind: kind, dimension: settings.dimension, condition: settings.condition, rotated: settings.rotated,
                rotationSeed: settings.rotationSeed, shift: settings.shift)
            objective = settings.noise.map { NoisyObjective(function, kind: settings.givenNoiseType ?? .multiplicative, level: $0, seed: seed) } ?? function
        case .command:
            objective = CommandObjective(
                command: settings.command ?? [], dimension: settings.dimension, timeoutSeconds: settings.timeoutSeconds,
                wireProtocol: settings.wireProtocol)
        }
        guard let bounds = settings.bounds, case .success(let box) = bounds.box(dimension: settings.dimension) else {
            return (objective, settings.start)
        }
        return (BoundedObjective(objective, bounds: box), settings.start)
    }

    /// A point as `[x1, x2, ...]` with 6 significant digits, the first 10 coordinates and a count
    /// of the rest (the JSON output and --result carry every coordinate exactly).
    static func point(_ coordinates: [Double]) -> String {
        let shown = coordinates.prefix(10).map { String(format: "%.6g", $0) }.joined(separator: ", ")
        return "[\(shown)\(coordinates.count > 10 ? ", ... (\(coordinates.count - 10) more)" : "")]"
    }

    /// Each method's outcome: a JSON line each, or a table and the ratio of evaluations.
    func report(_ outcomes: [AdaptationRun.Outcome], job: Runtime) throws {
        if json {
            for line in try Self.jsonLines(outcomes) { job.report(line) }
            return
        }
        var rows = [["method", "iterations", "evaluations", "f(mean)", "best sample", "eigendecompositions", "seconds", "reached"]]
        for outcome in outcomes {
            rows.append([
                outcome.method, "\(outcome.iterations)", "\(outcome.evaluations)", String(format: "%.2e", outcome.finalValue),
                String(format: "%.2e", outcome.bestSampleValue), "\(outcome.eigendecompositions)",
                String(format: "%.3f", outcome.seconds), outcome.reachedTarget ? "yes" : "no",
            ])
        }
        for line in TextTable.render(rows) { job.report(line) }
        for outcome in outcomes {
            job.report("\(outcome.method) mean: \(Self.point(outcome.mean))")
            job.report("\(outcome.method) best sample: \(Self.point(outcome.bestSample))")
        }
        for (reference, name) in [(AdaptationMethod.xnes, "exact xNES"), (.cmaExact, "exact CMA-ES")] {
            guard let exact = outcomes.first(where: { $0.method == reference.rawValue }), exact.reachedTarget else { continue }
            let ratios = outcomes.filter { $0.method != exact.method && $0.method != AdaptationMethod.xnes.rawValue && $0.reachedTarget }
                .map { String(format: "%@ %.2f", $0.method, Double($0.evaluations) / Double(exact.evaluations)) }
            if !ratios.isEmpty { job.report("evaluations against \(name): " + ratios.joined(separator: ", ")) }
        }
    }
}
