import Foundation
import Optim
import Support
import Testing
@testable import Train

@Suite("Training configuration")
struct TrainConfigTests {
    static let minimal = #"{"name": "m", "model": {"layers": [{"type": "relu"}]}, "optimizer": {"type": "adamw"}}"#

    /// The shipped training configurations (configs/fashion-*.json).
    static var shippedConfigs: [URL] {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configs.path)) ?? []
        return names.filter { $0.hasPrefix("fashion-") && $0.hasSuffix(".json") }.sorted().map { configs.appendingPathComponent($0) }
    }

    @Test("each ranged field rejects a value out of its range, with the message naming the field", arguments: [
        ("training.epochs=0", "field 'training.epochs': must be >= 1, got 0"),
        ("training.batchSize=0", "field 'training.batchSize': must be >= 1, got 0"),
        ("training.maxSteps=0", "field 'training.maxSteps': must be >= 1, got 0"),
        ("training.logEvery=0", "field 'training.logEvery': must be >= 1, got 0"),
        ("training.evalEvery=-1", "field 'training.evalEvery': must be >= 0, got -1"),
        ("training.evalBatchSize=0", "field 'training.evalBatchSize': must be >= 1, got 0"),
        ("training.healthEvery=-1", "field 'training.healthEvery': must be >= 0, got -1"),
        ("training.maxNonFiniteSteps=0", "field 'training.maxNonFiniteSteps': must be >= 1, got 0"),
        ("training.targetAccuracy=0", "field 'training.targetAccuracy': must be in (0, 1], got 0.0"),
        ("training.targetAccuracy=1.5", "field 'training.targetAccuracy': must be in (0, 1], got 1.5"),
        ("distributed.bucketMegabytes=0", "field 'distributed.bucketMegabytes': must be in (0, 4096], got 0.0"),
        ("distributed.bucketMegabytes=5000", "field 'distributed.bucketMegabytes': must be in (0, 4096], got 5000.0"),
        ("distributed.replicaCheckEvery=-1", "field 'distributed.replicaCheckEvery': must be >= 0, got -1"),
        ("distributed.replanAfterSteps=3", "field 'distributed.replanAfterSteps': must be >= 4, got 3"),
        ("distributed.stallTimeoutSeconds=-1", "field 'distributed.stallTimeoutSeconds': must be >= 0 seconds (0: never), got -1.0"),
        ("checkpoint.everySteps=-1", "field 'checkpoint.everySteps': must be >= 0, got -1"),
        ("checkpoint.everyMinutes=-0.5", "field 'checkpoint.everyMinutes': must be >= 0, got -0.5"),
        ("checkpoint.keep=0", "field 'checkpoint.keep': must be >= 1, got 0"),
        ("name=.hidden", "field 'name': '.hidden' is not a run name (letters, digits, '-', '_', '.'; not starting with '.')"),
        ("model.layers=[]", "field 'model.layers': needs at least one layer"),
        ("data.testLabels=", "field 'data': testLabels must not be empty"),
        ("data.std=0.5", "field 'data': give both mean and std, or neither (computed on the training set)"),
        ("optimizer.epsilon=0", "field 'optimizer': epsilon must be > 0, got 0.0"),
    ])
    func outOfRange(override: String, message: String) {
        #expect(throws: ConfigurationError("run.json", message)) {
            try ConfigurationFile.decode(TrainConfig.self, from: Data(Self.minimal.utf8), path: "run.json", overrides: [override])
        }
    }

    @Test("a configuration with only the required fields gets every default")
    func defaults() throws {
        let config = try ConfigurationFile.decode(TrainConfig.self, from: Data(Self.minimal.utf8), path: "run.json")
        #expect(config == TrainConfig(name: "m", model: ModelConfig(layers: [.relu]), optimizer: OptimizerConfig(type: .adamw)))
        #expect(config.runDirectory == "runs" && config.seed == 1 && config.training.batchSize == 128 && config.training.maxSteps == nil)
        #expect(config.distributed.stallTimeoutSeconds == 600 && config.checkpoint.keep == 3 && config.data.mean == nil)
    }

    @Test("the shipped configurations decode, and their resolved JSON has every field and decodes to the same configuration")
    func shippedConfigsRoundTrip() throws {
        #expect(Self.shippedConfigs.count >= 6)
        for url in Self.shippedConfigs {
            let config = try TrainConfig.load(path: url.path)
            let resolved = try config.resolvedJSON()
            #expect(try ConfigurationFile.decode(TrainConfig.self, from: resolved, path: url.path) == config, "\(url.lastPathComponent)")
            let object = try #require(try JSONSerialization.jsonObject(with: resolved) as? [String: Any])
            #expect(Set(object.keys) == Set(TrainConfig.fieldNames), "\(url.lastPathComponent)")
            let training = try #require(object["training"] as? [String: Any])
            let optionalTrainingFields = [config.training.maxSteps == nil ? "maxSteps" : nil, config.training.targetAccuracy == nil ? "targetAccuracy" : nil]
            #expect(Set(training.keys) == Set(LoopConfig.fieldNames).subtracting(optionalTrainingFields.compactMap { $0 }), "\(url.lastPathComponent)")
        }
    }
}
