import Cluster
import Datasets
import Foundation
import Optim
import Spectral
import Synchronization
import Testing
@testable import Train

@Suite("Training runs", .serialized)
struct TrainerTests {
    static func optimizer(_ kind: OptimizerConfig.Kind) -> OptimizerConfig {
        var config = OptimizerConfig(type: kind)
        switch kind {
        case .sgd:
            config.learningRate = 0.1
        case .adamw:
            config.learningRate = 0.01
        case .eigenShampoo, .spectral:
            config.learningRate = 0.01
            config.momentumDampening = 0.9
            config.preconditioner.factor.curvatureLearningRate = 0.05
            config.rootInterval = 5
        }
        return config
    }

    static let variants: [(OptimizerConfig.Kind, KroneckerMode)] = [
        (.sgd, .shampoo), (.adamw, .shampoo), (.eigenShampoo, .shampoo), (.spectral, .shampoo), (.spectral, .kl),
    ]

    @Test("every optimizer learns the synthetic task; the run folder holds config, metrics and summary",
          arguments: 0..<variants.count)
    func learns(variant: Int) throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let (kind, mode) = Self.variants[variant]
        var optimizer = Self.optimizer(kind)
        optimizer.preconditioner.mode = mode
        optimizer.preconditioner.power = PreconditionerOptions.defaultPower(mode)
        let config = data.config(optimizer: optimizer)
        let output = Mutex<[String]>([])
        let summary = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator()) { line in output.withLock { $0.append(line) } }
        let lines = output.withLock { $0 }
        // The classes are separable by quadrant brightness: every optimizer must get well above
        // chance (1/3) within 40 steps.
        #expect(summary.finalTestAccuracy > 0.9, "\(kind) \(mode): \(summary.finalTestAccuracy)")
        let records = try readMetrics(config.runPath)
        #expect(records.first!.loss > records.last!.loss)
        #expect(records.last!.step == summary.steps && summary.steps == 40)
        #expect(records.contains { $0.testAccuracy != nil })
        let resolved = try TrainConfig.load(path: (config.runPath as NSString).appendingPathComponent("config.json"))
        #expect(resolved == config)
        #expect(FileManager.default.fileExists(atPath: (config.runPath as NSString).appendingPathComponent("summary.json")))
        #expect(lines.contains { $0.hasPrefix("done: 40 steps") })
    }

    @Test("same seed, same configuration: identical losses, line for line", arguments: [OptimizerConfig.Kind.spectral, .adamw])
    func deterministic(kind: OptimizerConfig.Kind) throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var losses: [[Double]] = []
        for name in ["first", "second"] {
            var config = data.config(optimizer: Self.optimizer(kind), name: name, epochs: 2)
            config.model.layers.insert(.dropout(rate: 0.2), at: 2)
            _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator()) { _ in }
            losses.append(try readMetrics(config.runPath).flatMap { [$0.loss, $0.testLoss ?? -1] })
        }
        #expect(losses[0] == losses[1])
    }

    @Test("a diverging run stops with a clear error after maxNonFiniteSteps")
    func divergence() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var optimizer = OptimizerConfig(type: .sgd)
        optimizer.learningRate = 1e30
        var config = data.config(optimizer: optimizer)
        config.training.maxNonFiniteSteps = 3
        #expect(throws: TrainError.self) {
            _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator()) { _ in }
        }
        do {
            _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator(), overwrite: true) { _ in }
        } catch {
            #expect("\(error)".hasPrefix("training diverged: 3 consecutive steps with a non-finite loss or gradient"), "\(error)")
        }
    }

    @Test("an existing run folder is not overwritten unless asked")
    func existingRun() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = data.config(optimizer: Self.optimizer(.adamw))
        config.training.maxSteps = 2
        _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator()) { _ in }
        #expect(throws: TrainError("\(config.runPath) already holds a run; choose another name (--set name=...), remove it, or pass --overwrite")) {
            _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator()) { _ in }
        }
        _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator(), overwrite: true) { _ in }
    }

    @Test("bad data and model settings are one-line errors naming the problem")
    func setupErrors() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        func failure(_ change: (inout TrainConfig) -> Void) -> String {
            var config = data.config(optimizer: Self.optimizer(.adamw))
            change(&config)
            do {
                _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator(), overwrite: true) { _ in }
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let missing = data.path("nowhere.idx")
        #expect(failure { $0.data.testImages = missing } == "\(missing): does not exist")
        // A truncated IDX file.
        let truncated = data.path("truncated.idx")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data.path("test-images.idx")))
        try bytes.prefix(100).write(to: URL(fileURLWithPath: truncated))
        #expect(failure { $0.data.testImages = truncated }.hasPrefix("\(truncated): expected 3840 bytes of data, found 84"))
        #expect(failure { $0.model.layers[3] = .linear(outputs: 4) } == "model: the last layer gives [4] per sample, the data has 3 classes")
        #expect(failure { $0.training.batchSize = 500 } == "training.batchSize 500 exceeds the 240 training samples")
        #expect(failure { $0.model.layers = [.flatten, .maxPool(kernel: 2, stride: 2)] }.hasPrefix("model.layers[1]: "))
    }

    @Test("configuration files: defaults resolve, bad fields are named")
    func configuration() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let path = data.path("config.json")
        func load(_ json: String, _ overrides: [String] = []) throws -> TrainConfig {
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            return try TrainConfig.load(path: path, overrides: overrides)
        }
        let minimal = #"{"name": "m", "model": {"layers": [{"type": "flatten"}, {"type": "linear", "outputs": 10}]}, "optimizer": {"type": "adamw"}}"#
        let config = try load(minimal, ["training.epochs=2", "optimizer.learningRate=0.01"])
        #expect(config.training.epochs == 2 && config.training.batchSize == 128 && config.optimizer.learningRate == 0.01)
        #expect(config.data.trainImages.hasPrefix("/usr/share/datasets/fashion-mnist/"))
        let problems = [
            (#"{"model": {"layers": []}, "optimizer": {"type": "adamw"}}"#, "missing field 'name'"),
            (#"{"name": "../x", "model": {"layers": [{"type": "relu"}]}, "optimizer": {"type": "adamw"}}"#, "field 'name': '../x' is not a run name"),
            (#"{"name": "m", "model": {"layers": []}, "optimizer": {"type": "adamw"}}"#, "field 'model.layers': needs at least one layer, or give model.transformer"),
            (#"{"name": "m", "model": {"layers": [{"type": "relu"}]}, "optimizer": {"type": "adamw"}, "training": {"batchSize": 0}}"#, "field 'training.batchSize': must be >= 1, got 0"),
            (#"{"name": "m", "model": {"layers": [{"type": "relu"}]}, "optimizer": {"type": "adamw"}, "training": {"epoch": 3}}"#, "field 'training': unknown field 'epoch'"),
        ]
        for (json, message) in problems {
            do {
                _ = try load(json)
                Issue.record("no error for \(json)")
            } catch {
                #expect("\(error)" == "\(path): \(message)" || "\(error)".hasPrefix("\(path): \(message)"), "\(error)")
            }
        }
    }
}

@Suite("Run folders")
struct RunFolderTests {
    @Test("a run that cannot start leaves no run folder")
    func failedStartLeavesNothing() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = data.config(optimizer: OptimizerConfig(type: .adamw))
        config.data.testImages = data.path("missing.idx")
        #expect(throws: TrainError.self) { _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator()) { _ in } }
        #expect(!FileManager.default.fileExists(atPath: config.runPath))
    }
}
