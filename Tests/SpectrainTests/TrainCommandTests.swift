import Foundation
import Testing

/// `spectrain train` as a user runs it, on the shipped Fashion-MNIST configuration (made short).
@Suite("spectrain train", .serialized)
struct TrainCommandTests {
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    func losses(_ folder: URL) throws -> [String] {
        let text = try String(contentsOf: folder.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return "\(object["loss"]!) \(object["testLoss"] ?? "-")"
        }
    }

    @Test("the shipped MLP configuration trains, and two runs with the same seed log identical losses",
          .enabled(if: FileManager.default.fileExists(atPath: fashionMNIST), "needs the Debian package dataset-fashion-mnist"))
    func shortRunsAreIdentical() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var runs: [[String]] = []
        for name in ["a", "b"] {
            let result = try ProcessRunner.run(
                ["train", CommandTests.config("fashion-mlp.json"), "--set", "name=\(name)", "--set", "runDirectory=\(folder.path)",
                 "--set", "training.maxSteps=40", "--set", "training.logEvery=10", "--set", "training.evalEvery=20",
                 "--set", "training.evalBatchSize=2000"],
                timeout: 300)
            #expect(result.status == 0, "\(result.allOutput)")
            #expect(result.output.contains("done: 40 steps"), "\(result.output)")
            runs.append(try losses(folder.appendingPathComponent(name)))
        }
        #expect(runs[0].count == 4)
        #expect(runs[0] == runs[1])
        // Loss falls from about ln(10) = 2.3 within 40 steps.
        let first = Double(runs[0].first!.split(separator: " ")[0])!
        let last = Double(runs[0].last!.split(separator: " ")[0])!
        #expect(last < first && last < 1.2, "\(runs[0])")

        let plot = folder.appendingPathComponent("plots/compare.svg")
        let plotted = try ProcessRunner.run(["plot", folder.appendingPathComponent("a").path, folder.appendingPathComponent("b").path, "-o", plot.path, "--x", "step"])
        #expect(plotted.status == 0, "\(plotted.allOutput)")
        #expect(plotted.output == "wrote \(plot.path) (2 runs)\n")
        let svg = try String(contentsOf: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") || svg.hasPrefix("<?xml"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 6)
    }

    @Test("missing and corrupt data files are one-line errors")
    func dataErrors() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = try ProcessRunner.run(
            ["train", CommandTests.config("fashion-mlp.json"), "--set", "runDirectory=\(folder.path)",
             "--set", "data.trainImages=/usr/share/datasets/fashion-mnist/nope.gz"])
        #expect(missing.status != 0)
        #expect(missing.errorOutput == "spectrain: error: /usr/share/datasets/fashion-mnist/nope.gz: does not exist (install the Debian package dataset-fashion-mnist)\n", "\(missing.errorOutput)")

        let corrupt = folder.appendingPathComponent("corrupt.gz")
        try Data([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02]).write(to: corrupt)
        let result = try ProcessRunner.run(
            ["train", CommandTests.config("fashion-mlp.json"), "--set", "runDirectory=\(folder.path)", "--set", "data.testLabels=\(corrupt.path)"])
        #expect(result.status != 0)
        #expect(result.errorOutput.hasPrefix("spectrain: error: \(corrupt.path): "), "\(result.errorOutput)")
        #expect(result.errorOutput.split(separator: "\n").count == 1)
    }

    @Test("a bad configuration value is a one-line error naming the field")
    func configurationError() throws {
        let result = try ProcessRunner.run(["train", CommandTests.config("fashion-mlp.json"), "--set", "optimizer.momentum=1.5"])
        #expect(result.status != 0)
        #expect(result.errorOutput.contains("fashion-mlp.json: field 'optimizer': momentum must be in [0, 1), got 1.5"), "\(result.errorOutput)")
        #expect(result.errorOutput.split(separator: "\n").count == 1)
    }
}
