import Datasets
import Foundation
import Linalg
import NN
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
        ("model.layers=[]", "field 'model.layers': needs at least one layer, or give model.transformer"),
        (#"model.transformer={"blocks":1,"width":16,"heads":2}"#, "field 'model': give model.layers or model.transformer, not both"),
        (#"model.transformer={"blocks":1,"width":16,"heads":3}"#, "field 'model.transformer.heads': width 16 is not a multiple of the 3 heads"),
        (#"model.transformer={"blocks":0,"width":16,"heads":2}"#, "field 'model.transformer.blocks': must be >= 1, got 0"),
        ("data.context=0", "field 'data': context must be >= 1, got 0"),
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
            #expect(Set(object.keys) == Set(TrainConfig.fieldNames).subtracting(config.notes == nil ? ["notes"] : []), "\(url.lastPathComponent)")
            let training = try #require(object["training"] as? [String: Any])
            let optionalTrainingFields = [config.training.maxSteps == nil ? "maxSteps" : nil, config.training.targetAccuracy == nil ? "targetAccuracy" : nil]
            #expect(Set(training.keys) == Set(LoopConfig.fieldNames).subtracting(optionalTrainingFields.compactMap { $0 }), "\(url.lastPathComponent)")
        }
    }

    /// The shipped MLP configuration reading the small synthetic data set (8 x 8 images).
    private static func syntheticConfig(_ data: SyntheticData) throws -> [String: Any] {
        let url = shippedConfigs.first { $0.lastPathComponent == "fashion-mlp.json" }!
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let paths = data.dataConfig
        object["data"] = ["trainImages": paths.trainImages, "trainLabels": paths.trainLabels, "testImages": paths.testImages, "testLabels": paths.testLabels]
        return object
    }

    private static func decodeFailure(_ object: Any, overrides: [String] = []) throws -> String? {
        do {
            _ = try ConfigurationFile.decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: object), path: "run.json", overrides: overrides)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("huge integers name the field and its range, and epochs cannot make the step count overflow", arguments: [
        ("training.epochs=1e30", "run.json: field 'training.epochs': must be an integer in 1...1000000, got 1e+30"),
        ("training.epochs=99999999999999999999", "run.json: field 'training.epochs': must be an integer in 1...1000000, got 1e+20"),
        ("training.epochs=9223372036854775807", "run.json: field 'training.epochs': must be <= 1000000, got 9223372036854775807"),
        ("training.evalBatchSize=4294967296", "run.json: field 'training.evalBatchSize': must be <= 2147483648, got 4294967296"),
        ("seed=-1", "run.json: field 'seed': must be an integer in 0...9007199254740992, got -1"),
        ("seed=9007199254740993", "run.json: field 'seed': must be <= 9007199254740992, got 9007199254740993"),
        ("training.maxSteps=2.5", "run.json: field 'training.maxSteps': must be an integer in 1...1125899906842624, got 2.5"),
    ])
    func hugeIntegers(override: String, message: String) throws {
        #expect(try Self.decodeFailure(try JSONSerialization.jsonObject(with: Data(Self.minimal.utf8)), overrides: [override]) == message)
        // The largest epochs times the largest possible steps per epoch (2^31 samples) fits.
        #expect(!LoopConfig.maximumEpochs.multipliedReportingOverflow(by: IDXFile.maximumElementCount).overflow)
    }

    @Test("a model too large for this machine, a layer that cannot take its input and a label beyond the model are config errors")
    func resources() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let config = try Self.syntheticConfig(data)
        #expect(try Self.decodeFailure(config) == nil)
        let huge = #"model.layers=[{"type":"flatten"},{"type":"linear","outputs":1000000000},{"type":"relu"},{"type":"linear","outputs":10}]"#
        let memory = try #require(try Self.decodeFailure(config, overrides: [huge]))
        #expect(memory.hasPrefix("run.json: model.layers[1]: 1000000000 outputs x 64 inputs = 242.1 GiB of parameters"), "\(memory)")
        #expect(memory.contains("more than this machine's") && !memory.contains("\n"))
        let wide = #"model.layers=[{"type":"conv2d","outputs":1073741824,"kernel":65536,"padding":65536},{"type":"flatten"},{"type":"linear","outputs":1073741824},{"type":"linear","outputs":10}]"#
        let overflow = try #require(try Self.decodeFailure(config, overrides: [wide]))
        #expect(overflow.hasPrefix("run.json: model.layers[") && !overflow.contains("\n"), "\(overflow)")
        let kernel = #"model.layers=[{"type":"conv2d","outputs":4,"kernel":9},{"type":"flatten"},{"type":"linear","outputs":10}]"#
        #expect(try Self.decodeFailure(config, overrides: [kernel]) == "run.json: model.layers[0].kernel: 9 is larger than the padded image 8 x 8 with padding 0")
        let twoClasses = #"model.layers=[{"type":"flatten"},{"type":"linear","outputs":2}]"#
        #expect(try Self.decodeFailure(config, overrides: [twoClasses]) == "run.json: \(data.dataConfig.trainLabels): sample 2 has label 2, the model has 2 classes")
        #expect(MemoryBudget.format(3_136_000_000_000) == "2.9 TiB" && MemoryBudget.format(Int.max) == "more than 8 EiB")
    }

    @Test("mutated configurations decode within every range or fail with one line naming the file")
    func fuzzDecoding() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let base = try Self.syntheticConfig(data)
        let cases = ProcessInfo.processInfo.environment["SPECTRAIN_FUZZ_CASES"].flatMap { Int($0) } ?? 2000
        var random = SeededGenerator(seed: 0xC0_FF_EE)
        let replacements: [Any] = [
            1e30, -1, 0, 2.5, -1e308, Int.max, Int.min, UInt64.max, 4_294_967_296, 1_000_000_000, "text", NSNull(), true,
            [Any](), [String: Any](), [1, 2], ["type": "linear", "outputs": 1_073_741_824], ["type": "conv2d", "outputs": 3, "kernel": 65536, "padding": 65536],
        ]
        let rawNumbers = ["1e30", "99999999999999999999", "-99999999999999999999", "1e400", "-0", "0.0000001", "18446744073709551616"]
        for index in 0..<cases {
            var object: Any = base
            for _ in 0...random.below(3) {
                object = Self.mutate(object, random: &random, replacements: replacements)
            }
            var text = try JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed])
            switch random.below(6) {
            case 0 where !text.isEmpty:
                // A number spelled as JSON allows but Swift's types cannot hold.
                var string = String(decoding: text, as: UTF8.self)
                if let digit = string.firstIndex(where: \.isNumber) {
                    let end = string[digit...].firstIndex { !$0.isNumber && $0 != "." } ?? string.endIndex
                    string.replaceSubrange(digit..<end, with: rawNumbers[random.below(rawNumbers.count)])
                }
                text = Data(string.utf8)
            case 1 where !text.isEmpty:
                text[random.below(text.count)] = UInt8(truncatingIfNeeded: random.next())
            case 2:
                text = text.prefix(random.below(text.count + 1))
            case 3:
                let depth = 1 + random.below(200)
                text = Data((String(repeating: "[", count: depth) + String(decoding: text, as: UTF8.self) + String(repeating: "]", count: depth)).utf8)
            default:
                break
            }
            do {
                let config = try ConfigurationFile.decode(TrainConfig.self, from: text, path: "fuzz.json")
                #expect(config.validationError() == nil, "case \(index)")
                for layer in config.model.layers {
                    switch layer {
                    case .linear(let outputs): #expect((1...LayerSpec.maximumOutputs).contains(outputs), "case \(index)")
                    case .conv2d(let outputs, let kernel, let stride, let padding):
                        #expect((1...LayerSpec.maximumOutputs).contains(outputs) && (1...LayerSpec.maximumWindow).contains(kernel)
                            && (1...LayerSpec.maximumWindow).contains(stride) && (0...LayerSpec.maximumWindow).contains(padding), "case \(index)")
                    default: break
                    }
                }
            } catch {
                #expect(error.description.hasPrefix("fuzz.json: ") && !error.description.contains("\n"), "case \(index): \(error)")
                #expect(!error.description.contains("Domain=") && !error.description.contains("The operation could not be completed"), "case \(index): \(error)")
            }
        }
    }

    /// `value` with one random change somewhere in it: a value replaced, a key deleted or added.
    private static func mutate(_ value: Any, random: inout SeededGenerator, replacements: [Any]) -> Any {
        if var object = value as? [String: Any], !object.isEmpty, random.below(3) > 0 {
            let keys = object.keys.sorted()
            let key = keys[random.below(keys.count)]
            switch random.below(6) {
            case 0: object[key] = nil
            case 1: object["unknown\(random.below(3))"] = 1
            case 2: object[key] = replacements[random.below(replacements.count)]
            default: object[key] = mutate(object[key]!, random: &random, replacements: replacements)
            }
            return object
        }
        if var array = value as? [Any], !array.isEmpty, random.below(3) > 0 {
            let index = random.below(array.count)
            array[index] = mutate(array[index], random: &random, replacements: replacements)
            return array
        }
        return replacements[random.below(replacements.count)]
    }
}

/// Draws for the configuration fuzz cases from Linalg's seeded generator.
fileprivate extension SeededGenerator {
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
}
