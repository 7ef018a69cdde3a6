import Datasets
import Foundation
import Linalg
import Optim
import Support
@testable import Train

/// A small image task the tests make themselves: 8 x 8 images of 3 classes, each class a bright
/// quadrant (top-left, top-right, bottom) plus noise, written as IDX files (gzip for training).
struct SyntheticData {
    let folder: URL

    /// `mislabelledEvery`: every this many training samples carries the wrong label (0: none), so
    /// that no model reaches zero loss and a blown-up one pays for its confident mistakes.
    init(trainCount: Int = 240, testCount: Int = 60, seed: UInt64 = 5, mislabelledEvery: Int = 0) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var generator = SeededGenerator(seed: seed)
        func images(_ count: Int, mislabelledEvery: Int = 0) -> (pixels: [UInt8], labels: [UInt8]) {
            var pixels: [UInt8] = []
            var labels: [UInt8] = []
            for index in 0..<count {
                let label = index % 3
                let wrong = mislabelledEvery > 0 && index % mislabelledEvery == mislabelledEvery - 1
                labels.append(UInt8(wrong ? (label + 1) % 3 : label))
                for row in 0..<8 {
                    for column in 0..<8 {
                        let bright = label == 0 ? row < 4 && column < 4 : label == 1 ? row < 4 && column >= 4 : row >= 4
                        let noise = Double(generator.next() % 60)
                        pixels.append(UInt8(min(255, (bright ? 170 : 20) + noise)))
                    }
                }
            }
            return (pixels, labels)
        }
        let train = images(trainCount, mislabelledEvery: mislabelledEvery)
        let test = images(testCount)
        try write(IDXFile(elementType: .uint8, dimensions: [trainCount, 8, 8], bytes: train.pixels), "train-images.idx", gzip: true)
        try write(IDXFile(elementType: .uint8, dimensions: [trainCount], bytes: train.labels), "train-labels.idx", gzip: true)
        try write(IDXFile(elementType: .uint8, dimensions: [testCount, 8, 8], bytes: test.pixels), "test-images.idx", gzip: false)
        try write(IDXFile(elementType: .uint8, dimensions: [testCount], bytes: test.labels), "test-labels.idx", gzip: false)
    }

    private func write(_ file: IDXFile, _ name: String, gzip: Bool) throws {
        let url = folder.appendingPathComponent(name)
        try Data(file.encoded()).write(to: url)
        if gzip {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
            process.arguments = ["-n", "-f", url.path]
            try process.run()
            process.waitUntilExit()
        }
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    var dataConfig: DataConfig {
        DataConfig(
            trainImages: path("train-images.idx.gz"), trainLabels: path("train-labels.idx.gz"),
            testImages: path("test-images.idx"), testLabels: path("test-labels.idx"))
    }

    /// A configuration for a small MLP on this data.
    func config(optimizer: OptimizerConfig, name: String = "run", epochs: Int = 4) -> TrainConfig {
        TrainConfig(
            name: name, runDirectory: folder.appendingPathComponent("runs").path, seed: 3, data: dataConfig,
            model: ModelConfig(layers: [.flatten, .linear(outputs: 16), .relu, .linear(outputs: 3)]),
            optimizer: optimizer,
            training: LoopConfig(epochs: epochs, batchSize: 24, logEvery: 5, evalEvery: 10, evalBatchSize: 25))
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// The metrics lines of a run folder.
func readMetrics(_ folder: String) throws -> [MetricsRecord] {
    let text = try String(contentsOfFile: (folder as NSString).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
    return try text.split(separator: "\n").map { try NonFiniteJSON.decoder().decode(MetricsRecord.self, from: Data($0.utf8)) }
}
