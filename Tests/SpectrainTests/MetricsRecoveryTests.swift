import Foundation
import Testing

/// Damaged metrics as a user meets them (issue 10): `plot` never overwrites its input and draws a
/// run whose last line was cut short; resume keeps every metrics line, by step or set aside.
@Suite("damaged metrics: plot and resume", .serialized)
struct MetricsRecoveryTests {
    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A run folder `name` in `folder` whose metrics.jsonl holds `lines` records, then `tail`.
    func syntheticRun(_ name: String, in folder: URL, lines: Int, tail: String = "") throws -> URL {
        let run = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let text = (1...lines).map { step in
            #"{"accuracy":0.5,"elapsedSeconds":\#(step),"epoch":\#(Double(step) / 10),"learningRate":0.001,"loss":\#(1 / Double(step)),"samplesPerSecond":100,"skippedSteps":0,"step":\#(step),"time":{}}"# + "\n"
        }.joined()
        try Data((text + tail).utf8).write(to: run.appendingPathComponent("metrics.jsonl"))
        return run
    }

    @Test("plot -o RUN/metrics.jsonl (or a link to it) is refused in one line and the metrics are left unchanged")
    func plotKeepsItsInput() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try syntheticRun("r", in: folder, lines: 5)
        let metrics = run.appendingPathComponent("metrics.jsonl")
        let before = try Data(contentsOf: metrics)
        let direct = try ProcessRunner.run(["plot", run.path, "-o", metrics.path])
        #expect(direct.status != 0)
        #expect(direct.errorOutput == "spectrain: error: \(metrics.path): not an .svg path; the plot is an SVG file (give -o NAME.svg)\n", "\(direct.allOutput)")
        let link = run.appendingPathComponent("plot.svg")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: metrics)
        let linked = try ProcessRunner.run(["plot", run.path, "-o", link.path])
        #expect(linked.status != 0)
        #expect(linked.errorOutput == "spectrain: error: \(link.path): is \(metrics.path), which the plot reads; choose another output path\n", "\(linked.allOutput)")
        #expect(try Data(contentsOf: metrics) == before)
    }

    @Test("a last line cut short: plot notes it in one line on standard error and draws the rest; plotting again replaces the plot")
    func plotAfterPartialLine() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try syntheticRun("r", in: folder, lines: 5, tail: #"{"accuracy":0.5,"elapsedSec"#)
        let output = folder.appendingPathComponent("r.svg")
        for _ in 0..<2 {
            let result = try ProcessRunner.run(["plot", run.path, "-o", output.path])
            #expect(result.status == 0, "\(result.allOutput)")
            #expect(result.output == "wrote \(output.path) (1 run)\n")
            #expect(result.errorOutput == "spectrain: note: \(run.path)/metrics.jsonl: line 6: skipped, cut short (no newline at the end of the file: its write did not finish)\n")
            #expect(try String(contentsOf: output, encoding: .utf8).contains("<polyline"))
        }
    }

    @Test("resume with an invalid UTF-8 byte mid-file and a partial last line keeps every line up to the checkpoint by step and sets the rest aside byte for byte",
          .enabled(if: FileManager.default.fileExists(atPath: TrainCommandTests.fashionMNIST), "needs the Debian package dataset-fashion-mnist"))
    func resumeKeepsEveryLine() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("u")
        let first = try ProcessRunner.run(CheckpointCommandTests.arguments(name: "u", folder: folder, steps: 30), timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        let metrics = run.appendingPathComponent("metrics.jsonl")
        var lines = try Data(contentsOf: metrics).split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map { Array($0) + [0x0A] }
        try #require(lines.count == 30)
        lines[9].insert(0xFF, at: 1)
        let partial = Array(lines[29].prefix(40))
        try Data(lines.flatMap { $0 } + partial).write(to: metrics)

        let resumed = try ProcessRunner.run(
            CheckpointCommandTests.arguments(name: "u", folder: folder, steps: 30, extra: ["--resume", run.appendingPathComponent("ckpt-000020").path]),
            timeout: 600)
        #expect(resumed.status == 0, "\(resumed.allOutput)")
        let aside = run.appendingPathComponent("metrics-superseded-at-step-20.jsonl")
        #expect(resumed.output.contains("kept 12 metrics lines aside in \(aside.path): 10 logged after step 20, 1 unreadable (line 10: not UTF-8 (byte 0xFF at column 2)), 1 cut short at the end of the file (its write did not finish)"), "\(resumed.output)")
        #expect(try Data(contentsOf: aside) == Data(lines[9] + lines[20...].flatMap { $0 } + partial))
        let steps = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").map { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int ?? -1
        }
        #expect(steps == Array(1...9) + Array(11...30))
        #expect(try Data(contentsOf: metrics).prefix(lines[0..<9].map(\.count).reduce(0, +)) == Data(lines[0..<9].flatMap { $0 }))
        let plotted = try ProcessRunner.run(["plot", run.path, "-o", folder.appendingPathComponent("u.svg").path])
        #expect(plotted.status == 0 && plotted.errorOutput.isEmpty, "\(plotted.allOutput)")
    }
}
