import ArgumentParser
import Foundation
import Linalg
import Support
import Train

/// `spectrain bench model CONFIG`: the time split of a configuration's training step and the
/// achieved GFLOP/s of its forward and backward passes beside sgemm's, measured in the same run.
struct ModelBenchmarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time a configuration's training step: forward, backward and update, with achieved GFLOP/s against sgemm.",
        discussion: """
            Trains the configuration for --warmup + --steps steps (nothing is written), e.g.
              spectrain bench model configs/shakespeare-char-adamw.json --steps 20
            """)

    @Argument(help: "The JSON configuration.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration field.", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Steps timed.", valueName: "n"))
    var steps = 20

    @Option(help: ArgumentHelp("Steps run before timing.", valueName: "n"))
    var warmup = 3

    @Option(help: ArgumentHelp("The sgemm size the passes are compared with (n x n times n x n).", valueName: "n"))
    var gemmSize = 1024

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be in 1...100000, got \(steps)") }
        guard (0...100_000).contains(warmup) else { throw ValidationError("--warmup must be in 0...100000, got \(warmup)") }
        guard (16...8192).contains(gemmSize) else { throw ValidationError("--gemm-size must be in 16...8192, got \(gemmSize)") }
    }

    func run() throws {
        var settings = try TrainConfig.load(path: config, overrides: overrides)
        settings.training.maxSteps = warmup + steps + 1
        settings.distributed.stallTimeoutSeconds = 0
        let job = try Runtime.start(runtime)
        let trainer = try Trainer(config: settings, communicator: job.communicator, stopRequest: StopRequest { _ in nil }, report: { _ in })
        job.report("model benchmark: \(config), \(job.communicator.size) rank(s), \(job.blas.threads) BLAS thread(s) per rank, core \(BLASThreading.coreName)")
        job.report(trainer.header)
        let result = try trainer.benchmark(steps: steps, warmup: warmup)
        let gemm = GemmBenchmark.measure(Float.self, size: gemmSize, minTime: 1)
        let copyRate = CopyBenchmark.bytesPerSecond(minTime: 0.5)
        let peak = 2 * pow(Double(gemmSize), 3) / gemm.best / 1e9
        let perStep = 1e3 / Double(result.steps)
        let time = result.times
        let passes: [(String, Double, Int?)] = [
            ("data", time.data, nil), ("forward", time.forward, result.forwardOperations), ("backward", time.backward, result.backwardOperations),
            ("communication", time.communication, nil), ("curvature", time.curvature, nil), ("precondition", time.precondition, nil),
            ("optimizer", time.optimizer, nil),
        ]
        let total = passes.map(\.1).reduce(0, +)
        var rows = [["phase", "ms/step", "share", "GFLOP/step", "GFLOP/s", "of sgemm"]]
        for (name, seconds, operations) in passes where seconds > 0 {
            let rate = operations.map { Double($0) / 1e9 / (seconds / Double(result.steps)) }
            rows.append([
                name, format(seconds * perStep), String(format: "%.1f%%", 100 * seconds / total),
                operations.map { format(Double($0) / 1e9) } ?? "", rate.map(format) ?? "", rate.map { String(format: "%.0f%%", 100 * $0 / peak) } ?? "",
            ])
        }
        rows.append(["step", format(total * perStep), "100%", "", "", ""])
        for line in TextTable.render(rows) { job.report(line) }
        let passSeconds = (time.forward + time.backward) / Double(result.steps)
        let predictions = Double(result.batchSize * result.predictionsPerSample)
        let unit = result.predictionsPerSample > 1 ? "tokens" : "samples"
        let passRate = Double(result.forwardOperations + result.backwardOperations) / 1e9 / passSeconds
        job.report(String(
            format: "forward+backward: %.0f %@/s, %.1f GFLOP/s = %.0f%% of sgemm %d (%.1f GFLOP/s, same run); whole step: %.0f %@/s",
            predictions / passSeconds, unit, passRate, 100 * passRate / peak, gemmSize, peak,
            predictions / (total / Double(result.steps)), unit))
        if time.optimizer > 0 {
            let optimizerRate = Double(result.optimizerTraffic) / (time.optimizer / Double(result.steps))
            job.report(String(
                format: "optimizer: %.1f MB/step at least (parameters, gradient, state), %.1f GB/s = %.0f%% of a copy's (%.1f GB/s read + written, 64 MiB on the same threads, same run)",
                Double(result.optimizerTraffic) / 1e6, optimizerRate / 1e9, 100 * optimizerRate / copyRate, copyRate / 1e9))
        }
    }
}
