import ArgumentParser
import Cluster
import Foundation
import Linalg
import Spectral
import Support

/// `spectrain bench factor`: the cost of one curvature-factor update, spectral against the
/// eigendecomposition it replaces, on the same inputs in one run.
struct FactorBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "factor",
        abstract: "Time one k x k factor update: spectral trunc(2) with gated and ungated Newton-Schulz, spectral Cayley, exact EMA + ssyevd root.",
        discussion: """
            Each size uses one Float32 curvature factor U (k x s, H = U U^T) for all methods:
              (a) spectral update, trunc(2) retraction, Newton-Schulz step when the gate asks for
                  it (the default)
              (a0) the same with a Newton-Schulz step on every update (no gate)
              (b) spectral update, Cayley retraction (one LU solve)
              (c) exact EMA L <- (1-beta2) L + beta2 U U^T, then LAPACK ssyevd of L (Eigen-Shampoo's
                  root recomputation)
            After an update each method can apply any root S^(-1/p) at the same cost (two GEMMs),
            so roots are not timed. GFLOP/s of (a) counts the BLAS work it did (B^T U, A A^T, K^2,
            B P, and B^T B, B X when the polar step ran), against the best sgemm call on
            k x k x k in the same run; "polar" is the share of (a)'s updates that ran Newton-Schulz.
            The methods are timed round-robin (one call of each per round); times are medians.
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Comma-separated factor sizes k.", valueName: "k,k,..."))
    var sizes = "128,256,512,1024,2048"

    @Option(help: ArgumentHelp("Columns s of the curvature factor U (default: k).", valueName: "s"))
    var samples: Int?

    @Option(help: ArgumentHelp("Minimum seconds of timed calls per method and size (at least 5 rounds).", valueName: "s"))
    var minTime = 1.0

    @Flag(help: "Also print Markdown table rows.")
    var markdown = false

    func validate() throws {
        _ = try parseSizes(sizes)
        if let samples, samples < 1 { throw ValidationError("--samples must be at least 1, got \(samples)") }
        guard minTime > 0, minTime <= 600 else { throw ValidationError("--min-time must be in (0, 600] seconds, got \(minTime)") }
    }

    struct Row {
        var size: Int
        var samples: Int
        var spectral: Timing
        var ungated: Timing
        var cayley: Timing
        var eigen: Timing
        var gemm: Timing
        /// BLAS operations of (a) per update, on average over the timed calls.
        var spectralFlops: Double
        /// The share of (a)'s updates that ran a Newton-Schulz step.
        var polarShare: Double

        var spectralGFLOPs: Double { spectralFlops / spectral.median / 1e9 }
        /// sgemm's peak: its best call.
        var gemmGFLOPs: Double { 2 * pow(Double(size), 3) / gemm.best / 1e9 }
    }

    func run() throws {
        let job = try Runtime.start(runtime)
        job.report("factor benchmark: Float32, \(job.blas.threads) BLAS thread(s) (\(job.blas.reason)), core \(BLASThreading.coreName); medians of round-robin calls over >= \(4 * minTime) s per size")
        var rows: [Row] = []
        for size in try parseSizes(sizes) {
            let row = try Self.measure(size: size, samples: samples ?? size, minTime: minTime)
            rows.append(row)
        }
        var table = [[
            "k", "s", "(a) gated ms", "polar", "(a0) NS always ms", "(b) cayley ms", "(c) EMA+ssyevd ms", "(c)/(a)", "(c)/(a0)",
            "(c)/(b)", "(a) GFLOP/s", "sgemm GFLOP/s", "(a)/sgemm",
        ]]
        for row in rows {
            table.append([
                "\(row.size)", "\(row.samples)", format(row.spectral.median * 1e3), String(format: "%.0f%%", 100 * row.polarShare),
                format(row.ungated.median * 1e3), format(row.cayley.median * 1e3),
                format(row.eigen.median * 1e3), format(row.eigen.median / row.spectral.median) + "x",
                format(row.eigen.median / row.ungated.median) + "x",
                format(row.eigen.median / row.cayley.median) + "x", format(row.spectralGFLOPs), format(row.gemmGFLOPs),
                String(format: "%.0f%%", 100 * row.spectralGFLOPs / row.gemmGFLOPs),
            ])
        }
        for line in TextTable.render(table) { job.report(line) }
        if markdown {
            job.report("")
            for line in markdownTable(table) { job.report(line) }
        }
    }

    static func measure(size k: Int, samples s: Int, minTime: Double) throws -> Row {
        var generator = SeededGenerator(seed: UInt64(k))
        let factor = Matrix<Float>.gaussian(rows: k, columns: s, scale: 1 / Float(s).squareRoot(), using: &generator)
        let rate = 0.01
        let spectral = SpectralFactor<Float>(dimension: k, options: .init(curvatureLearningRate: rate, maxConsecutiveFailures: .max))
        let ungated = SpectralFactor<Float>(dimension: k, options: .init(curvatureLearningRate: rate, newtonSchulzTolerance: nil, maxConsecutiveFailures: .max))
        let cayley = SpectralFactor<Float>(dimension: k, options: .init(curvatureLearningRate: rate, retraction: .cayley, maxConsecutiveFailures: .max))
        let eigen = EigenFactor<Float>(dimension: k, curvatureLearningRate: Float(rate))
        let a = Matrix<Float>.random(rows: k, columns: k, using: &generator)
        var c = Matrix<Float>(rows: k, columns: k)
        // Round-robin, one call of each per round, so that the machine's noise hits all alike.
        var spectralOperations = 0
        let startState = spectral.state
        let timings = try Timing.measureRoundRobin(minTime: 4 * minTime, [
            {
                let before = BLAS.productOperations.load(ordering: .relaxed)
                try spectral.update(curvatureFactor: factor)
                spectralOperations += BLAS.productOperations.load(ordering: .relaxed) - before
            },
            { try ungated.update(curvatureFactor: factor) },
            { try cayley.update(curvatureFactor: factor) },
            {
                eigen.update(curvatureFactor: factor)
                try eigen.recomputeRoot()
            },
            { BLAS.gemm(a, a, into: &c) },
        ])
        let updates = spectral.state.updates + spectral.state.failures - startState.updates - startState.failures
        let polarSteps = spectral.state.polarSteps - startState.polarSteps
        return Row(
            size: k, samples: s, spectral: timings[0], ungated: timings[1], cayley: timings[2], eigen: timings[3], gemm: timings[4],
            spectralFlops: Double(spectralOperations) / Double(max(1, updates)), polarShare: Double(polarSteps) / Double(max(1, updates)))
    }
}
