import ArgumentParser
import Foundation
import Linalg
import Optim
import Support
import Train

/// `spectrain bench step CONFIG...`: the time split of one training step for several optimizers on
/// the same model and batch, measured in interleaved rounds in one run, with each optimizer's
/// step time as a ratio to AdamW's.
struct StepBenchmarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time the training step of several optimizers on one model, side by side, with ratios to AdamW.",
        discussion: """
            Each configuration (and each --optimizers variant of the first) trains on the same model,
            data and batch; after --warmup steps each, they take turns for --rounds rounds of --steps
            steps, so the machine's noise hits all alike. Nothing is written. E.g.
              spectrain bench step configs/fashion-mlp-adamw.json configs/fashion-mlp.json --optimizers eigenShampoo
            The reference is the first AdamW variant (else the first).
            """)

    @Argument(help: "JSON configurations with the same model, data and batch size.")
    var configs: [String]

    @Option(help: ArgumentHelp("Also time the first configuration with these optimizer types (sgd, adamw, eigenShampoo, spectral); its preconditioner settings are kept.", valueName: "list"))
    var optimizers: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field of every configuration.", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Steps per optimizer per round.", valueName: "n"))
    var steps = 20

    @Option(help: ArgumentHelp("Rounds.", valueName: "n"))
    var rounds = 5

    @Option(help: ArgumentHelp("Steps run before timing, per optimizer.", valueName: "n"))
    var warmup = 5

    @Flag(help: "Also print the table as Markdown.")
    var markdown = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard !configs.isEmpty else { throw ValidationError("give at least one configuration") }
        guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be in 1...100000, got \(steps)") }
        guard (1...1000).contains(rounds) else { throw ValidationError("--rounds must be in 1...1000, got \(rounds)") }
        guard (0...100_000).contains(warmup) else { throw ValidationError("--warmup must be in 0...100000, got \(warmup)") }
        _ = try optimizerTypes()
    }

    func optimizerTypes() throws -> [OptimizerConfig.Kind] {
        guard let optimizers else { return [] }
        return try optimizers.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let name = item.trimmingCharacters(in: .whitespaces)
            guard let kind = OptimizerConfig.Kind(rawValue: name) else {
                throw ValidationError("--optimizers: '\(name)' is not an optimizer (sgd, adamw, eigenShampoo, spectral)")
            }
            return kind
        }
    }

    /// The configurations timed, with their labels: each file, then the variants of the first.
    func variants() throws -> [(label: String, config: TrainConfig)] {
        var result: [(label: String, config: TrainConfig)] = []
        for path in configs {
            let config = try TrainConfig.load(path: path, overrides: overrides)
            result.append(("\(config.name) (\(config.optimizer.type.rawValue))", config))
        }
        for kind in try optimizerTypes() {
            var config = result[0].config
            var optimizer = OptimizerConfig(type: kind)
            optimizer.preconditioner = config.optimizer.preconditioner
            config.optimizer = optimizer
            result.append(("\(config.name) as \(kind.rawValue) (defaults)", config))
        }
        let first = result[0].config
        for (label, config) in result.dropFirst() {
            guard config.model == first.model, config.data == first.data, config.training.batchSize == first.training.batchSize else {
                throw ValidationError("\(label): model, data or batch size differ from \(result[0].label); bench step compares optimizers on one model")
            }
        }
        return result
    }

    func run() throws {
        let variants = try variants()
        let job = try Runtime.start(runtime)
        job.report("step benchmark: \(variants.count) optimizers, \(job.communicator.size) rank(s), \(job.blas.threads) BLAS thread(s) per rank, core \(BLASThreading.coreName); \(rounds) interleaved rounds of \(steps) steps after \(warmup) warm-up steps each")
        var sessions: [BenchmarkSession] = []
        for (label, variant) in variants {
            var settings = variant
            settings.training.maxSteps = warmup + rounds * steps + 1
            settings.distributed.stallTimeoutSeconds = 0
            let trainer = try Trainer(config: settings, communicator: job.communicator, stopRequest: StopRequest { _ in nil }, report: { _ in })
            if sessions.isEmpty { job.report(trainer.header) }
            guard trainer.totalSteps > warmup + rounds * steps else {
                throw ValidationError("\(label): \(trainer.totalSteps) steps in the configured epochs, fewer than the \(warmup + rounds * steps) needed")
            }
            sessions.append(try trainer.startBenchmark(warmup: warmup))
        }
        for _ in 0..<rounds {
            for session in sessions { try session.run(steps: steps) }
        }
        let results = sessions.map(\.benchmark)
        let reference = variants.firstIndex { $0.config.optimizer.type == .adamw } ?? 0
        let phases: [(String, KeyPath<StepTimes, Double>)] = [
            ("data", \.data), ("forward", \.forward), ("backward", \.backward), ("communication", \.communication),
            ("curvature", \.curvature), ("precondition", \.precondition), ("optimizer", \.optimizer),
        ]
        func perStep(_ result: ModelBenchmark, _ seconds: Double) -> Double { seconds * 1e3 / Double(result.steps) }
        func total(_ result: ModelBenchmark) -> Double { phases.map { result.times[keyPath: $0.1] }.reduce(0, +) }
        var table = [["ms per step"] + variants.map(\.label)]
        for (name, path) in phases where results.contains(where: { $0.times[keyPath: path] > 0 }) {
            table.append([name] + results.map { format(perStep($0, $0.times[keyPath: path])) })
        }
        table.append(["step"] + results.map { format(perStep($0, total($0))) })
        let referenceStep = perStep(results[reference], total(results[reference]))
        table.append(["step / \(variants[reference].config.optimizer.type.rawValue)"] + results.map {
            String(format: "%.2fx", perStep($0, total($0)) / referenceStep)
        })
        for line in TextTable.render(table) { job.report(line) }
        if markdown {
            job.report("")
            for line in markdownTable(table) { job.report(line) }
        }
    }
}
