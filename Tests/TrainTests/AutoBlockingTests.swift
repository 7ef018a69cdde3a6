import Checkpoint
import Cluster
import Datasets
import Foundation
import NN
import Optim
import Spectral
import Support
import Synchronization
import Testing
@testable import Train

/// `maxFactorDimension: "auto"`: the rule, its configuration field, and a run that resolves it,
/// records the number and keeps it on resume.
@Suite("Automatic blocking", .serialized)
struct AutoBlockingTests {
    /// The shipped MLP's parameter tensors (configs/fashion-mlp.json on 28 x 28 images).
    static let mlp: [[Int]] = [[256, 784], [256], [10, 256], [10]]

    /// The shipped CNN's (configs/fashion-cnn.json) and the shipped character transformer's
    /// (configs/shakespeare-char.json, 84 characters), from their layer specs.
    static func shippedShapes() throws -> [(name: String, shapes: [[Int]])] {
        let cnn = try TrainConfig.load(path: TrainConfigTests.shippedConfigs.first { $0.lastPathComponent == "fashion-cnn.json" }!.path)
        let text = TransformerConfig(blocks: 4, width: 128, heads: 4)
        return [
            ("mlp", mlp),
            ("cnn", try LayerFootprint.of(cnn.model.layers, inputShape: [1, 28, 28]).flatMap(\.parameterShapes)),
            ("transformer", try LayerFootprint.of(ModelConfig(transformer: text).layerSpecs(vocabulary: 84), inputShape: [128]).flatMap(\.parameterShapes)),
        ]
    }

    /// The plan of `shapes` blocked at `limit`, as a run makes it (every shard, the full greedy plan).
    static func plan(_ shapes: [[Int]], optimizer: OptimizerConfig, limit: Int, ranks: Int) -> OwnershipPlan {
        var settings = optimizer
        settings.preconditioner.maxFactorDimension = limit
        let specs = shapes.enumerated().map { ParameterSpec(name: "t\($0.offset)", shape: $0.element, offset: 0) }
        return OwnershipReport.plan(shards: ParameterShard.shards(of: specs, optimizer: settings, ranks: ranks), optimizer: settings, ranks: ranks)
    }

    @Test("the MLP's 256 x 784 layer: 392 (two blocks) on 2 ranks, the ceiling 1024 on 1 rank, for both Kronecker optimizers")
    func shippedMLP() {
        for kind in [OptimizerConfig.Kind.spectral, .eigenShampoo] {
            let optimizer = OptimizerConfig(type: kind)
            let two = AutoBlocking.choose(shapes: Self.mlp, optimizer: optimizer, ranks: 2)
            #expect(two.limit == 392)
            guard case .balance(let imbalance, let ceilingImbalance, true) = two.basis else {
                Issue.record("2 ranks: \(two)")
                continue
            }
            #expect(imbalance <= AutoBlocking.targetImbalance && ceilingImbalance > 1.9)
            #expect(two.description == String(format: "maxFactorDimension auto -> 392 over 2 ranks (imbalance %.2f; 1024 would give %.2f)", imbalance, ceilingImbalance))
            let one = AutoBlocking.choose(shapes: Self.mlp, optimizer: optimizer, ranks: 1)
            #expect(one.limit == 1024 && one.description == "maxFactorDimension auto -> 1024 on 1 rank (nothing to balance)")
        }
        // Without Kronecker factors nothing is blocked, however unbalanced.
        for kind in [OptimizerConfig.Kind.sgd, .adamw] {
            #expect(AutoBlocking.choose(shapes: Self.mlp, optimizer: OptimizerConfig(type: kind), ranks: 3).limit == 1024)
        }
    }

    @Test("candidates are the ceiling and exactly the ceil(side / k) in 64...1024 of every matrix side")
    func candidates() throws {
        for (name, shapes) in try Self.shippedShapes() {
            var expected: Set<Int> = [1024]
            for shape in shapes where shape.count >= 2 {
                for side in [shape[0], shape.dropFirst().reduce(1, *)] {
                    for parts in 2...max(2, side) {
                        let limit = (side + parts - 1) / parts
                        if (64...1024).contains(limit) { expected.insert(limit) }
                    }
                }
            }
            #expect(AutoBlocking.candidates(shapes: shapes) == expected.sorted(by: >), "\(name)")
        }
        #expect(AutoBlocking.candidates(shapes: Self.mlp).prefix(3) == [1024, 392, 262])
        // A side too short to cut above the floor adds nothing; a vector is no matrix.
        #expect(AutoBlocking.candidates(shapes: [[100, 120], [5000]]) == [1024])
    }

    /// Checks the rule against every candidate's full plan: the largest limit within the target
    /// imbalance when there is one, else the least busiest-rank load (the larger limit on a tie).
    @Test("the choice is the largest candidate whose plan is within 1.10, else the least busiest-rank load; its imbalance as reported",
          arguments: [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 64])
    func ruleHolds(ranks: Int) throws {
        let optimizer = OptimizerConfig(type: .spectral)
        for (name, shapes) in try Self.shippedShapes() {
            let choice = AutoBlocking.choose(shapes: shapes, optimizer: optimizer, ranks: ranks)
            let candidates = AutoBlocking.candidates(shapes: shapes)
            let plans = candidates.map { Self.plan(shapes, optimizer: optimizer, limit: $0, ranks: ranks) }
            let chosen = try #require(candidates.firstIndex(of: choice.limit), "\(name) on \(ranks): \(choice.limit) is no candidate")
            guard case .balance(let imbalance, let ceilingImbalance, let reachesTarget) = choice.basis else {
                Issue.record("\(name) on \(ranks): \(choice)")
                continue
            }
            // The imbalances are the plans' own, up to the rounding of summing loads in another order.
            #expect(abs(imbalance - plans[chosen].imbalance) <= 1e-12 * plans[chosen].imbalance, "\(name) on \(ranks)")
            #expect(abs(ceilingImbalance - plans[0].imbalance) <= 1e-12 * plans[0].imbalance)
            let within = plans.map { $0.imbalance <= AutoBlocking.targetImbalance }
            if reachesTarget {
                #expect(within[chosen] && !within[..<chosen].contains(true), "\(name) on \(ranks): \(choice)")
            } else {
                #expect(!within.contains(true), "\(name) on \(ranks): \(choice)")
                let largest = plans.map { $0.loads.max()! }
                #expect(largest.allSatisfy { largest[chosen] <= $0 } && !largest[..<chosen].contains(largest[chosen]), "\(name) on \(ranks): \(choice)")
            }
            if ranks == 1 { #expect(choice.limit == 1024) }
        }
    }

    @Test("resolving leaves a number alone and fixes auto at the choice")
    func resolved() {
        var optimizer = OptimizerConfig(type: .spectral)
        optimizer.preconditioner.maxFactorDimension = 200
        let fixed = AutoBlocking.resolved(optimizer, shapes: Self.mlp, ranks: 2)
        #expect(fixed.optimizer == optimizer && fixed.choice == nil)
        optimizer.preconditioner.factorDimensionLimit = .auto
        let automatic = AutoBlocking.resolved(optimizer, shapes: Self.mlp, ranks: 2)
        #expect(automatic.optimizer.preconditioner.factorDimensionLimit == .fixed(392) && automatic.choice?.limit == 392)
    }

    @Test("the splitting hint names no number when auto chose the blocking")
    func hintUnderAuto() {
        // One 100 x 100 matrix cannot be cut above the floor: auto keeps it whole, and it is
        // nearly all the cost on 2 ranks.
        let shapes = [[100, 100], [100]]
        var optimizer = OptimizerConfig(type: .spectral)
        let specs = [ParameterSpec(name: "w", shape: [100, 100], offset: 0), ParameterSpec(name: "b", shape: [100], offset: 10_000)]
        let shards = ParameterShard.shards(of: specs, optimizer: optimizer, ranks: 2)
        let plan = OwnershipReport.plan(shards: shards, optimizer: optimizer, ranks: 2)
        let plain = OwnershipReport.describe(shards: shards, plan: plan, optimizer: optimizer)
        #expect(plain.contains("maxFactorDimension=50 would split it into blocks (or =auto, the blocking that balances the ranks)"))
        optimizer.preconditioner.factorDimensionLimit = .auto
        let choice = AutoBlocking.choose(shapes: shapes, optimizer: optimizer, ranks: 2)
        #expect(choice.limit == 1024)
        let described = OwnershipReport.describe(shards: shards, plan: plan, optimizer: optimizer, automatic: choice)
        #expect(described.contains(choice.description) && described.contains("auto found no better blocking down to 64"), "\(described)")
        #expect(!described.contains("maxFactorDimension="), "\(described)")
    }

    // MARK: - The configuration field

    static let minimal = #"{"name": "m", "model": {"layers": [{"type": "relu"}]}, "optimizer": {"type": "spectral"}}"#

    static func decode(_ overrides: [String]) throws(ConfigurationError) -> TrainConfig {
        try ConfigurationFile.decode(TrainConfig.self, from: Data(minimal.utf8), path: "run.json", overrides: overrides)
    }

    @Test("maxFactorDimension takes \"auto\" and integers, from JSON and from --set, and writes auto back as \"auto\"")
    func decodesAutoAndNumbers() throws {
        let field = "optimizer.preconditioner.maxFactorDimension"
        #expect(try Self.decode([]).optimizer.preconditioner.factorDimensionLimit == .fixed(1024))
        #expect(try Self.decode(["\(field)=auto"]).optimizer.preconditioner.factorDimensionLimit == .auto)
        #expect(try Self.decode(["\(field)=\"auto\""]).optimizer.preconditioner.factorDimensionLimit == .auto)
        #expect(try Self.decode(["\(field)=392"]).optimizer.preconditioner.factorDimensionLimit == .fixed(392))
        #expect(try Self.decode(["\(field)=1"]).optimizer.preconditioner.maxFactorDimension == 1)
        let automatic = try Self.decode(["\(field)=auto"])
        #expect(automatic.optimizer.preconditioner.maxFactorDimension == 1024, "unresolved auto reads as its one-rank value")
        let resolved = try automatic.resolvedJSON()
        #expect(String(decoding: resolved, as: UTF8.self).contains(#""maxFactorDimension" : "auto""#))
        #expect(try ConfigurationFile.decode(TrainConfig.self, from: resolved, path: "config.json") == automatic)
    }

    @Test("anything else is a one-line error naming the field", arguments: [
        ("automatic", #"run.json: field 'optimizer.preconditioner.maxFactorDimension': must be an integer in 1...1073741824 or "auto", got "automatic""#),
        ("Auto", #"run.json: field 'optimizer.preconditioner.maxFactorDimension': must be an integer in 1...1073741824 or "auto", got "Auto""#),
        ("0", "run.json: field 'optimizer.preconditioner': maxFactorDimension must be >= 1, got 0"),
        ("-3", "run.json: field 'optimizer.preconditioner': maxFactorDimension must be >= 1, got -3"),
        ("2.5", #"run.json: field 'optimizer.preconditioner.maxFactorDimension': must be an integer in 1...1073741824 or "auto", got 2.5"#),
        ("true", #"run.json: field 'optimizer.preconditioner.maxFactorDimension': must be an integer in 1...1073741824 or "auto", got true"#),
        ("[392]", #"run.json: field 'optimizer.preconditioner.maxFactorDimension': must be an integer in 1...1073741824 or "auto", got a value of another type"#),
        ("9223372036854775807", "run.json: field 'optimizer.preconditioner': maxFactorDimension must be <= 1073741824, got 9223372036854775807"),
    ])
    func rejects(value: String, message: String) {
        do {
            _ = try Self.decode(["optimizer.preconditioner.maxFactorDimension=\(value)"])
            Issue.record("\(value) was accepted")
        } catch {
            #expect("\(error)" == message)
            #expect(!"\(error)".contains("\n"))
        }
    }

    @Test("auto needs largeDimensions block: under diagonal a smaller limit would not split, it would drop the factors")
    func autoNeedsBlocks() {
        do {
            _ = try Self.decode(["optimizer.preconditioner.maxFactorDimension=auto", "optimizer.preconditioner.largeDimensions=diagonal"])
            Issue.record("auto with diagonal was accepted")
        } catch {
            #expect("\(error)" == "run.json: field 'optimizer.preconditioner': maxFactorDimension auto chooses how large matrices are cut into blocks; it needs largeDimensions block, not diagonal")
        }
    }

    @Test("the memory estimate under auto is the largest over the limits auto may choose")
    func memoryBudget() throws {
        let data = DataShape(trainingCount: 60_000, testCount: 10_000, rows: 28, columns: 28)
        let layers: [LayerSpec] = [.flatten, .linear(outputs: 256), .relu, .linear(outputs: 10)]
        let footprints = try LayerFootprint.of(layers, inputShape: data.sampleShape)
        var config = TrainConfig(name: "m", model: ModelConfig(layers: layers), optimizer: OptimizerConfig(type: .spectral))
        func bytes(_ limit: FactorDimensionLimit) -> Int {
            config.optimizer.preconditioner.factorDimensionLimit = limit
            return MemoryBudget(config: config, data: data, specs: layers, layers: footprints).totalBytes
        }
        let fixed = AutoBlocking.candidates(shapes: Self.mlp).map { bytes(.fixed($0)) }
        #expect(bytes(.auto) == fixed.max())
        #expect(Set(fixed).count > 1, "the candidates' estimates differ, so the maximum is a real choice")
    }

    // MARK: - A run

    @Test("parameter shapes from the data headers are the built model's, for an MLP, a CNN and a transformer")
    func parameterShapes() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = data.config(optimizer: OptimizerConfig(type: .spectral))
        for layers: [LayerSpec] in [
            [.flatten, .linear(outputs: 16), .relu, .linear(outputs: 3)],
            [.conv2d(outputs: 4, kernel: 3, stride: 1, padding: 1), .relu, .maxPool(kernel: 2, stride: 2), .flatten, .linear(outputs: 3)],
        ] {
            config.model = ModelConfig(layers: layers)
            let model = try Sequential<Float>.build(inputShape: [1, 8, 8], specs: layers, maxBatch: 1)
            #expect(config.parameterShapes() == model.parameters.specs.map(\.shape))
        }
        let text = data.folder.appendingPathComponent("text.txt")
        try String(repeating: "to be or not to be, that is the question. ", count: 200).write(to: text, atomically: true, encoding: .utf8)
        config.data.text = text.path
        config.data.context = 16
        config.model = ModelConfig(transformer: TransformerConfig(blocks: 2, width: 32, heads: 4, tiedHead: true))
        let corpus = try config.data.loadText()
        let model = try LanguageModeling.buildModel(config: config, vocabulary: corpus.vocabulary.count, maxBatch: 1)
        #expect(config.parameterShapes() == model.parameters.specs.map(\.shape))
        config.data.text = data.folder.appendingPathComponent("missing.txt").path
        #expect(config.parameterShapes() == nil)
    }

    /// The synthetic task with a 200-wide hidden layer (200 x 64, 3 x 200): auto splits the
    /// 200-long sides on 2 ranks.
    static func config(_ data: SyntheticData, name: String, limit: FactorDimensionLimit) -> TrainConfig {
        var config = data.config(optimizer: TrainerTests.optimizer(.spectral), name: name)
        config.model = ModelConfig(layers: [.flatten, .linear(outputs: 200), .relu, .linear(outputs: 3)])
        config.optimizer.preconditioner.factorDimensionLimit = limit
        config.training.maxSteps = 8
        config.checkpoint.everySteps = 4
        return config
    }

    static func execute(_ config: TrainConfig, ranks: Int, resume: String? = nil) throws -> [String] {
        let lines = Mutex<[String]>([])
        _ = try ThreadCommunicator.run(ranks: ranks) { communicator in
            try TrainingRun.execute(config: config, communicator: communicator, resume: resume, stopRequest: StopRequest { _ in nil }) { line in
                lines.withLock { $0.append(line) }
            }
        }
        return lines.withLock { $0 }
    }

    /// The blocking limit a checkpoint's manifest and a run folder's config.json record.
    static func recordedLimit(runFolder: String, step: Int) throws -> (manifest: JSONValue?, config: JSONValue?) {
        let checkpoint = try CheckpointStore.read((runFolder as NSString).appendingPathComponent(CheckpointStore.folderName(step: step)))
        let config = try JSONValue(parsing: Data(contentsOf: URL(fileURLWithPath: (runFolder as NSString).appendingPathComponent("config.json"))))
        return (checkpoint.manifest["config"]?["optimizer"]?["preconditioner"]?["maxFactorDimension"],
                config["optimizer"]?["preconditioner"]?["maxFactorDimension"])
    }

    @Test("a run resolves auto once for its ranks, trains as with that number and records it; resumed, auto keeps the checkpoint's number on any ranks")
    func runAndResume() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let shapes: [[Int]] = [[200, 64], [200], [3, 200], [3]]
        let expected = AutoBlocking.choose(shapes: shapes, optimizer: OptimizerConfig(type: .spectral), ranks: 2)
        #expect(expected.limit == 100)
        #expect(AutoBlocking.choose(shapes: shapes, optimizer: OptimizerConfig(type: .spectral), ranks: 1).limit == 1024)

        let automatic = Self.config(data, name: "automatic", limit: .auto)
        let lines = try Self.execute(automatic, ranks: 2)
        #expect(lines.contains { $0.contains("ownership plan over 2 ranks") && $0.contains(expected.description) }, "\(lines)")
        #expect(try Self.recordedLimit(runFolder: automatic.runPath, step: 8) == (.number(100), .number(100)))
        // The same run with the number given: the same losses, bit for bit.
        let fixed = Self.config(data, name: "fixed", limit: .fixed(100))
        _ = try Self.execute(fixed, ranks: 2)
        #expect(try readMetrics(automatic.runPath).map(\.loss) == readMetrics(fixed.runPath).map(\.loss))

        // Resumed on 1 rank, where a new run's auto would be 1024: the checkpoint's 100, said so.
        var resumed = automatic
        resumed.training.maxSteps = 12
        let resumedLines = try Self.execute(resumed, ranks: 1, resume: automatic.runPath)
        #expect(resumedLines.contains("maxFactorDimension auto -> 100, the checkpoint's: a resumed run keeps the blocking of its optimizer state"), "\(resumedLines)")
        #expect(try Self.recordedLimit(runFolder: automatic.runPath, step: 12) == (.number(100), .number(100)))
        // And with --resume auto on 3 ranks.
        resumed.training.maxSteps = 16
        let again = try Self.execute(resumed, ranks: 3, resume: TrainingRun.automaticResume)
        #expect(again.contains { $0.contains("ownership plan over 3 ranks") && $0.contains("maxFactorDimension auto -> 100, the checkpoint's") }, "\(again)")
        #expect(try readMetrics(automatic.runPath).last?.step == 16)

        // A number that differs from the checkpoint's is still refused.
        var other = resumed
        other.optimizer.preconditioner.maxFactorDimension = 50
        other.training.maxSteps = 20
        let refused = #expect(throws: TrainError.self) { _ = try ReliabilityTests.run(other, resume: automatic.runPath) }
        #expect(refused?.message.contains("optimizer.preconditioner.maxFactorDimension is 50, the checkpoint's is 100") == true, "\(String(describing: refused))")
    }
}
