import ArgumentParser
import Cluster
import Foundation
import Linalg
import Support

/// `spectrain bench ...`: performance measurements, each printed as a table and optionally as
/// Markdown rows for docs/benchmarks.md.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure performance.",
        subcommands: [GemmBenchmark.self, FactorBenchmark.self, ModelBenchmarkCommand.self, StepBenchmarkCommand.self, LinkBenchmark.self])
}

/// Achieved GFLOP/s of OpenBLAS sgemm and dgemm on square matrices.
struct GemmBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Achieved GFLOP/s of sgemm and dgemm (C = A B, n x n) at several sizes.",
        discussion: """
            Under mpirun every rank runs the same benchmark at the same time; the table shows rank 0
            and the sum over ranks (the node's aggregate throughput).
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Comma-separated matrix sizes.", valueName: "n,n,..."))
    var sizes = "128,256,512,1024,2048"

    func parsedSizes() throws -> [Int] { try parseSizes(sizes) }

    @Option(help: ArgumentHelp("Precisions: float32, float64 or both.", valueName: "list"))
    var precision = "float32,float64"

    @Option(help: ArgumentHelp("Minimum seconds of timed calls per size (at least 3 calls).", valueName: "s"))
    var minTime = 0.5

    @Flag(help: "Also print Markdown table rows.")
    var markdown = false

    func parsedPrecisions() throws -> [String] {
        let values = precision.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for value in values where value != "float32" && value != "float64" {
            throw ValidationError("--precision: '\(value)' is not float32 or float64")
        }
        guard !values.isEmpty else { throw ValidationError("--precision: no precision given") }
        return values
    }

    func validate() throws {
        _ = try parsedSizes()
        _ = try parsedPrecisions()
        guard minTime > 0, minTime <= 600 else { throw ValidationError("--min-time must be in (0, 600] seconds, got \(minTime)") }
    }

    func run() throws {
        let job = try Runtime.start(runtime)
        let communicator = job.communicator
        job.report("gemm benchmark: \(communicator.size) rank(s), \(job.blas.threads) BLAS thread(s) per rank (\(job.blas.reason)), core \(BLASThreading.coreName)")
        var rows = [["routine", "n", "best ms", "median ms", "GFLOP/s", communicator.size > 1 ? "GFLOP/s all ranks" : ""]]
        var markdownRows: [String] = []
        for precision in try parsedPrecisions() {
            for size in try parsedSizes() {
                try communicator.barrier()
                let timing = precision == "float32"
                    ? Self.measure(Float.self, size: size, minTime: minTime)
                    : Self.measure(Double.self, size: size, minTime: minTime)
                let flops = 2 * pow(Double(size), 3)
                let gflops = flops / timing.best / 1e9
                let total = try communicator.allreduce(gflops, operation: .sum)
                let routine = precision == "float32" ? "sgemm" : "dgemm"
                rows.append([
                    routine, "\(size)", format(timing.best * 1e3), format(timing.median * 1e3), format(gflops),
                    communicator.size > 1 ? format(total) : "",
                ])
                markdownRows.append("| \(routine) | \(size) | \(communicator.size) | \(job.blas.threads) | \(format(timing.best * 1e3)) | \(format(gflops)) | \(format(total)) |")
            }
        }
        for line in TextTable.render(rows) { job.report(line) }
        if markdown {
            job.report("")
            job.report("| routine | n | ranks | BLAS threads per rank | best ms | GFLOP/s (rank 0) | GFLOP/s (all ranks) |")
            job.report("|---|---|---|---|---|---|---|")
            for row in markdownRows { job.report(row) }
        }
    }

    /// Times `C = A B` for random n x n matrices: one warm-up call, then calls until `minTime`
    /// seconds have passed and at least three were made. Returns the best and median seconds.
    static func measure<Scalar: LinalgScalar>(_: Scalar.Type, size: Int, minTime: Double) -> Timing {
        var generator = SeededGenerator(seed: UInt64(size))
        let a = Matrix<Scalar>.random(rows: size, columns: size, using: &generator)
        let b = Matrix<Scalar>.random(rows: size, columns: size, using: &generator)
        var c = Matrix<Scalar>(rows: size, columns: size)
        return Timing.measure(minTime: minTime) { BLAS.gemm(a, b, into: &c) }
    }
}

/// Best and median wall time of repeated calls.
struct Timing {
    var best: Double
    var median: Double
    var calls: Int

    /// One warm-up call, then calls until `minTime` seconds have passed and at least `minCalls`
    /// were made.
    static func measure(minTime: Double, minCalls: Int = 3, _ body: () throws -> Void) rethrows -> Timing {
        try body()
        var times: [Double] = []
        let clock = ContinuousClock()
        let start = clock.now
        while times.count < minCalls || start.duration(to: clock.now).inSeconds < minTime {
            let callStart = clock.now
            try body()
            times.append(callStart.duration(to: clock.now).inSeconds)
        }
        return Timing(times)
    }

    /// Runs `bodies` in rounds, one call of each per round (after one warm-up round), until
    /// `minTime` seconds have passed and at least `minRounds` rounds were made.
    static func measureRoundRobin(minTime: Double, minRounds: Int = 5, _ bodies: [() throws -> Void]) throws -> [Timing] {
        for body in bodies { try body() }
        var times = [[Double]](repeating: [], count: bodies.count)
        let clock = ContinuousClock()
        let start = clock.now
        while times[0].count < minRounds || start.duration(to: clock.now).inSeconds < minTime {
            for (index, body) in bodies.enumerated() {
                let callStart = clock.now
                try body()
                times[index].append(callStart.duration(to: clock.now).inSeconds)
            }
        }
        return times.map(Timing.init)
    }

    init(_ times: [Double]) {
        let sorted = times.sorted()
        best = sorted[0]
        median = sorted[sorted.count / 2]
        calls = sorted.count
    }
}

/// A table (header row first) as Markdown lines, for docs/benchmarks.md.
func markdownTable(_ table: [[String]]) -> [String] {
    guard let header = table.first else { return [] }
    return ["| " + header.joined(separator: " | ") + " |", "|" + String(repeating: "---|", count: header.count)]
        + table.dropFirst().map { "| " + $0.joined(separator: " | ") + " |" }
}

/// Parses a `--sizes` list such as "128,256,512".
func parseSizes(_ text: String) throws -> [Int] {
    let values = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    return try values.map { value in
        guard let size = Int(value), size >= 1, size <= 16384 else {
            throw ValidationError("--sizes: '\(value)' is not a matrix size between 1 and 16384")
        }
        return size
    }
}

/// A number with three significant digits or one decimal, for tables.
func format(_ value: Double) -> String {
    if value >= 100 { return String(format: "%.0f", value) }
    if value >= 10 { return String(format: "%.1f", value) }
    return String(format: "%.2f", value)
}
