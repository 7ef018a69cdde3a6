import Foundation
import Testing

/// The single-process commands as a user runs them: `spd` and `bench factor`, and the one-line
/// errors for bad configurations.
@Suite("spectrain commands", .serialized)
struct CommandTests {
    /// The repository root (configs/ lives there).
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func config(_ name: String) -> String { root.appendingPathComponent("configs/\(name)").path }

    @Test("spd solves each shipped problem (made small) with both methods", arguments: ["spd-gaussian.json", "spd-frobenius.json", "spd-karcher.json"])
    func spd(_ name: String) throws {
        var overrides = ["--set", "dimension=16"]
        if name == "spd-karcher.json" { overrides += ["--set", "count=4"] }
        let result = try ProcessRunner.run(["spd", Self.config(name)] + overrides, timeout: 300)
        #expect(result.status == 0, "\(result.allOutput)")
        let rows = result.output.split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("spectral") && $0.hasSuffix("yes") }, "\(result.output)")
        #expect(rows.contains { $0.hasPrefix("Riemannian GD") && $0.hasSuffix("yes") }, "\(result.output)")
        #expect(result.output.contains("wall time: spectral / Riemannian GD"))
    }

    @Test("help is printed on standard output with status 0, for the tool and for a subcommand",
          arguments: [["--help"], ["help", "train"], ["train", "--help"], ["es", "-h"]])
    func help(_ arguments: [String]) throws {
        let result = try ProcessRunner.run(arguments, timeout: 60)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.output.hasPrefix("OVERVIEW: "), "\(result.output)")
        #expect(result.errorOutput.isEmpty, "\(result.errorOutput)")
    }

    /// A bad configuration and the line the user must see.
    struct BadConfig: Sendable, CustomTestStringConvertible {
        var json: String
        var overrides: [String] = []
        var message: String
        var testDescription: String { message }
    }

    static let badConfigs = [
        BadConfig(json: "{", message: "not valid JSON"),
        BadConfig(json: "[1, 2]", message: "the top level must be a JSON object"),
        BadConfig(json: #"{"problem": "gaussian", "riemannian": {"stepSize": 1}}"#, message: "missing field 'dimension'"),
        BadConfig(json: #"{"problem": "cubic", "dimension": 4, "riemannian": {"stepSize": 1}}"#, message: "field 'problem'"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": "four", "riemannian": {"stepSize": 1}}"#, message: "field 'dimension': expected an integer"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "dimensions": 5, "riemannian": {"stepSize": 1}}"#, message: "unknown field 'dimensions'"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}, "spectral": {"curvatureLearningRate": 2}}"#, message: "curvatureLearningRate must be in (0, 1], got 2.0"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}, "spectral": {"retraction": "qr"}}"#, message: "field 'spectral.retraction': 'qr' is not a retraction"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": -1}}"#, message: "field 'riemannian.stepSize': must be > 0, got -1.0"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 1, "riemannian": {"stepSize": 1}}"#, message: "field 'dimension': must be in 2...4096, got 1"),
        // 1,000,040 matrices of 4096 x 4096: 125 TiB, more than any test machine has.
        BadConfig(json: #"{"problem": "karcher", "dimension": 4096, "count": 1000000, "riemannian": {"stepSize": 1}}"#, message: "field 'count': 1000000 matrices of 4096 x 4096 need about"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}, "stepRule": "factor", "stepsPerCurvature": 3}"#, message: "field 'stepsPerCurvature': must be 1 with stepRule factor, got 3"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}, "pairDamping": 2}"#, message: "field 'pairDamping': applies to stepRule scaled only, not jacobi"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}, "stepsPerCurvature": 0}"#, message: "field 'stepsPerCurvature': must be in 1...1000, got 0"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}}"#, overrides: ["--set", "tolerance"], message: "override 'tolerance' is not key=value"),
        BadConfig(json: #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}}"#, overrides: ["--set", "problem.kind=1"], message: "'problem' is not an object"),
    ]

    @Test("a bad configuration is one line naming the file and the field", arguments: badConfigs)
    func badConfiguration(_ bad: BadConfig) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-bad-\(UUID().uuidString).json")
        try Data(bad.json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try ProcessRunner.run(["spd", file.path] + bad.overrides, timeout: 60)
        #expect(result.status != 0)
        let lines = result.errorOutput.split(separator: "\n")
        #expect(lines.count == 1, "\(result.errorOutput)")
        #expect(result.errorOutput.hasPrefix("spectrain: error: \(file.path): "), "\(result.errorOutput)")
        #expect(result.errorOutput.contains(bad.message), "\(result.errorOutput)")
    }

    @Test("a missing configuration file is one line")
    func missingFile() throws {
        let result = try ProcessRunner.run(["spd", "/nonexistent/spd.json"])
        #expect(result.status != 0)
        #expect(result.errorOutput.hasPrefix("spectrain: error: /nonexistent/spd.json: does not exist"), "\(result.errorOutput)")
        #expect(result.errorOutput.split(separator: "\n").count == 1)
    }

    @Test("bench factor times the methods and reports the ratios and the gate's firing share")
    func benchFactor() throws {
        let result = try ProcessRunner.run(["bench", "factor", "--sizes", "32,48", "--samples", "8", "--min-time", "0.02"], timeout: 120)
        #expect(result.status == 0, "\(result.allOutput)")
        let rows = result.output.split(separator: "\n").filter { $0.hasPrefix("32 ") || $0.hasPrefix("48 ") }
        #expect(rows.count == 2, "\(result.output)")
        for row in rows {
            let cells = row.split(separator: " ", omittingEmptySubsequences: true)
            #expect(cells.count == 13)
            #expect(cells[3].hasSuffix("%"))
            for ratio in cells[7...9] { #expect(ratio.hasSuffix("x") && Double(ratio.dropLast()) ?? 0 > 0) }
        }
    }
}

@Suite("bench step", .enabled(if: FileManager.default.fileExists(atPath: TrainCommandTests.fashionMNIST), "needs the Debian package dataset-fashion-mnist"))
struct StepBenchmarkCommandTests {
    @Test("bench step times each optimizer's phases side by side, with the step as a ratio to AdamW's")
    func sideBySide() throws {
        let result = try ProcessRunner.run([
            "bench", "step", CommandTests.config("fashion-mlp.json"), CommandTests.config("fashion-mlp-adamw.json"),
            "--optimizers", "eigenShampoo", "--steps", "2", "--rounds", "2", "--warmup", "1",
        ], timeout: 300)
        #expect(result.status == 0, "\(result.allOutput)")
        let lines = result.output.split(separator: "\n")
        let header = try #require(lines.first { $0.hasPrefix("ms per step") })
        #expect(header.contains("fashion-mlp (spectral)") && header.contains("fashion-mlp-adamw (adamw)") && header.contains("as eigenShampoo"))
        let curvature = try #require(lines.first { $0.hasPrefix("curvature ") }).split(separator: " ", omittingEmptySubsequences: true)
        // The spectral and Eigen-Shampoo columns spend time on curvature, AdamW none.
        #expect(Double(curvature[1]) ?? 0 > 0 && Double(curvature[2]) == 0 && Double(curvature[3]) ?? 0 > 0, "\(curvature)")
        let ratios = try #require(lines.first { $0.hasPrefix("step / adamw") }).split(separator: " ", omittingEmptySubsequences: true)
        #expect(ratios[4] == "1.00x", "\(ratios)")
    }

    @Test("configurations with different models are a one-line error naming them")
    func differentModels() throws {
        let result = try ProcessRunner.run([
            "bench", "step", CommandTests.config("fashion-mlp.json"), CommandTests.config("fashion-cnn.json"), "--steps", "1", "--rounds", "1",
        ], timeout: 120)
        #expect(result.status != 0)
        #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        #expect(result.errorOutput.contains("fashion-cnn (spectral): model, data or batch size differ"), "\(result.errorOutput)")
    }
}
