import Datasets
import Foundation
import NN
import Optim
import Support

/// Everything a training run is: data, model, optimizer and loop settings. Decoded from JSON
/// with every problem reported by field; written back, resolved, into the run folder.
package struct TrainConfig: ConfigRecord, Sendable, Equatable {
    /// Run name: the run folder is `runDirectory/name`.
    package var name: String
    /// Free text about the run (what the sizes are, why): kept in config.json, never read.
    package var notes: String?
    package var runDirectory = "runs"
    package var seed: UInt64 = 1
    package var data = DataConfig()
    package var model: ModelConfig
    package var optimizer: OptimizerConfig
    package var training = LoopConfig()
    package var distributed = DistributedConfig()
    package var checkpoint = CheckpointConfig()

    package static let fields: [ConfigField<TrainConfig>] = [
        .required("name", \.name, runName),
        .init("notes", \.notes),
        .init("runDirectory", \.runDirectory),
        // JSON numbers hold every integer up to 2^53 exactly: a larger seed would change on its
        // way through config.json and the manifest, and a resumed run would not match.
        .init("seed", \.seed, .within(0...(1 << 53))),
        .init("data", \.data),
        .required("model", \.model),
        .required("optimizer", \.optimizer),
        .init("training", \.training),
        .init("distributed", \.distributed),
        .init("checkpoint", \.checkpoint),
        .check(summary: "the model must take the data and fit this machine's memory") { $0.resourceProblem() },
    ]

    /// Why this configuration cannot run on this machine, nil when it can: a layer that cannot
    /// take its input or whose sizes overflow, more memory than the machine has (`MemoryBudget`),
    /// or a label the model cannot output. Part of decoding, so every command that builds a model
    /// from a configuration (train, resume, eval) checks it before allocating anything. Reads the
    /// data files' headers and the label files (or the text file); data that cannot be read is
    /// left to loading, which reports it.
    package func resourceProblem(physicalMemory: Int? = MemoryBudget.physicalMemoryBytes) -> String? {
        if data.text != nil { return textResourceProblem(physicalMemory: physicalMemory) }
        if model.transformer != nil { return "model.transformer: a transformer reads text; give data.text" }
        guard let shape = try? data.readShape() else { return nil }
        let layers: [LayerFootprint]
        do {
            layers = try LayerFootprint.of(model.layers, inputShape: shape.sampleShape)
        } catch {
            return "model.\(error)"
        }
        if let physicalMemory,
           let problem = MemoryBudget(config: self, data: shape, specs: model.layers, layers: layers).problem(physicalMemory: physicalMemory) {
            return problem
        }
        if let output = layers.last, output.outputShape.count == 1, let problem = try? data.labelProblem(classes: output.outputCount) {
            return "\(problem)"
        }
        return nil
    }

    /// `resourceProblem` of a character language model: the model for the text's vocabulary and
    /// windows of `data.context`, which must predict one of the vocabulary's characters at every
    /// position.
    private func textResourceProblem(physicalMemory: Int?) -> String? {
        guard let corpus = try? data.loadText() else { return nil }
        let specs = model.layerSpecs(vocabulary: corpus.vocabulary.count)
        let inputShape = [data.context]
        let layers: [LayerFootprint]
        do {
            layers = try LayerFootprint.of(specs, inputShape: inputShape)
        } catch {
            return "model.\(error)"
        }
        let textBytes = (corpus.training.count + corpus.validation.count) * 4
        if let physicalMemory,
           let problem = MemoryBudget(config: self, textBytes: textBytes, sampleShape: inputShape, specs: specs, layers: layers)
               .problem(physicalMemory: physicalMemory) {
            return problem
        }
        if let problem = LanguageModeling.outputProblem(layers.last?.outputShape ?? [], context: data.context, vocabulary: corpus.vocabulary.count) {
            return problem
        }
        return nil
    }

    /// The shapes of the model's parameter tensors in the model's order, worked out from the data
    /// files' headers (a language model's text, for its vocabulary) without building the model:
    /// what `AutoBlocking` plans with before a run builds anything. Nil when the data cannot be
    /// read or the layers do not fit it (building the model then reports why).
    package func parameterShapes() -> [[Int]]? {
        let specs: [LayerSpec]
        let inputShape: [Int]
        if data.text != nil {
            guard let corpus = try? data.loadText() else { return nil }
            (specs, inputShape) = (model.layerSpecs(vocabulary: corpus.vocabulary.count), [data.context])
        } else {
            guard let shape = try? data.readShape() else { return nil }
            (specs, inputShape) = (model.layers, shape.sampleShape)
        }
        return (try? LayerFootprint.of(specs, inputShape: inputShape))?.flatMap(\.parameterShapes)
    }

    package static func defaults(given: GivenFields<TrainConfig>) throws -> TrainConfig {
        TrainConfig(name: try given.required(\.name), model: try given.required(\.model), optimizer: try given.required(\.optimizer))
    }

    /// Letters, digits, '-', '_' and '.', not starting with '.': a folder inside `runDirectory`.
    private static let runName = FieldRule<String>({ name in
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        return !name.isEmpty && name.unicodeScalars.allSatisfy(allowed.contains) && !name.hasPrefix(".")
    }, summary: "letters, digits, '-', '_' and '.', not starting with '.'", otherwise: { "'\($0)' is not a run name (letters, digits, '-', '_', '.'; not starting with '.')" })

    /// The run folder.
    package var runPath: String { (runDirectory as NSString).appendingPathComponent(name) }

    /// Loads a configuration file with `--set` overrides.
    package static func load(path: String, overrides: [String] = []) throws(ConfigurationError) -> TrainConfig {
        try ConfigurationFile.load(TrainConfig.self, from: path, overrides: overrides)
    }

    /// The resolved configuration (every default filled in) as pretty JSON.
    package func resolvedJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// The network: a list of layers applied to each sample, or a GPT-style transformer described
/// by its size (`TransformerConfig`), for a character language model.
package struct ModelConfig: ConfigRecord, Sendable, Equatable {
    /// The layers, first to last (empty when `transformer` describes the model).
    package var layers: [LayerSpec] = []
    package var transformer: TransformerConfig?

    package init(layers: [LayerSpec]) {
        self.layers = layers
    }

    package init(transformer: TransformerConfig) {
        self.transformer = transformer
    }

    package static let fields: [ConfigField<ModelConfig>] = [
        .init("layers", \.layers),
        .init("transformer", \.transformer),
        .check(at: \.layers, summary: "at least one layer, or give model.transformer") { $0.layers.isEmpty && $0.transformer == nil ? "needs at least one layer, or give model.transformer" : nil },
        .check(summary: "give model.layers or model.transformer, not both") { !$0.layers.isEmpty && $0.transformer != nil ? "give model.layers or model.transformer, not both" : nil },
    ]

    package static func defaults(given _: GivenFields<ModelConfig>) -> ModelConfig { ModelConfig(layers: []) }

    /// The layers of the model; a transformer's for a text of `vocabulary` characters.
    package func layerSpecs(vocabulary: Int) -> [LayerSpec] {
        guard let transformer else { return layers }
        return LayerSpec.transformer(
            vocabulary: vocabulary, blocks: transformer.blocks, width: transformer.width, heads: transformer.heads,
            mlpRatio: transformer.mlpRatio, tiedHead: transformer.tiedHead)
    }
}

/// A GPT-style character model by its size: a token and a position embedding, `blocks`
/// pre-LayerNorm transformer blocks of `width` with `heads` attention heads, a final LayerNorm
/// and a head over the vocabulary (the token embedding's transpose when `tiedHead`).
package struct TransformerConfig: ConfigRecord, Sendable, Equatable {
    package var blocks: Int
    package var width: Int
    package var heads: Int
    /// The MLP's hidden width is `mlpRatio` times the width.
    package var mlpRatio = 4
    /// The head reuses the token embedding's weight (weight tying) instead of its own.
    package var tiedHead = false

    package init(blocks: Int, width: Int, heads: Int, mlpRatio: Int = 4, tiedHead: Bool = false) {
        (self.blocks, self.width, self.heads, self.mlpRatio, self.tiedHead) = (blocks, width, heads, mlpRatio, tiedHead)
    }

    package static let fields: [ConfigField<TransformerConfig>] = [
        .required("blocks", \.blocks, .within(1...4096)),
        .required("width", \.width, .within(1...LayerSpec.maximumOutputs)),
        .required("heads", \.heads, .within(1...LayerSpec.maximumOutputs)),
        .init("mlpRatio", \.mlpRatio, .within(1...64)),
        .init("tiedHead", \.tiedHead),
        .check(at: \.heads, summary: "a divisor of width") { $0.width % $0.heads == 0 ? nil : "width \($0.width) is not a multiple of the \($0.heads) heads" },
    ]

    package static func defaults(given: GivenFields<TransformerConfig>) throws -> TransformerConfig {
        TransformerConfig(blocks: try given.required(\.blocks), width: try given.required(\.width), heads: try given.required(\.heads))
    }
}

/// The loop: how long, how big a batch, how often to evaluate and log.
package struct LoopConfig: ConfigRecord, Sendable, Equatable {
    package var epochs = 5
    /// The global batch (summed over ranks).
    package var batchSize = 128
    /// Stop after this many steps (nil: after `epochs`).
    package var maxSteps: Int?
    /// Log a metrics line every this many steps.
    package var logEvery = 50
    /// Evaluate on the test split every this many steps (0: at the end of each epoch only).
    package var evalEvery = 0
    package var evalBatchSize = 500
    /// Measure factor health every this many steps (0: never).
    package var healthEvery = 0
    /// Stop after this many consecutive steps with a non-finite loss or gradient.
    package var maxNonFiniteSteps = 10
    /// The summary reports when test accuracy first reaches this (nil: no target).
    package var targetAccuracy: Double?

    /// The most epochs a run may have: with at most 2^31 samples (an IDX file's limit), the step
    /// count `epochs * stepsPerEpoch` and the sample count `steps * batchSize` stay below 2^51.
    package static let maximumEpochs = 1_000_000
    /// The most steps any step count or interval may be, 2^50.
    package static let maximumSteps = 1 << 50
    /// The largest batch: an IDX file holds at most 2^31 samples.
    package static let maximumBatchSize = 1 << 31

    package static let fields: [ConfigField<LoopConfig>] = [
        .init("epochs", \.epochs, .within(1...maximumEpochs)),
        .init("batchSize", \.batchSize, .within(1...maximumBatchSize)),
        .init("maxSteps", \.maxSteps, .within(1...maximumSteps)),
        .init("logEvery", \.logEvery, .within(1...maximumSteps)),
        .init("evalEvery", \.evalEvery, .within(0...maximumSteps)),
        .init("evalBatchSize", \.evalBatchSize, .within(1...maximumBatchSize)),
        .init("healthEvery", \.healthEvery, .within(0...maximumSteps)),
        .init("maxNonFiniteSteps", \.maxNonFiniteSteps, .within(1...maximumSteps)),
        .init("targetAccuracy", \.targetAccuracy, .in(0...1, excludingLower: true)),
    ]

    package static func defaults(given _: GivenFields<LoopConfig>) -> LoopConfig { LoopConfig() }
}

/// How a run spreads over ranks: the gradient reduction, its buckets, the replica check and the
/// optional re-planning of ownership from measured times.
package struct DistributedConfig: ConfigRecord, Sendable, Equatable {
    package var reduction = GradientReduction.reduceScatter
    /// The precision of the bytes on the wire: bfloat16 halves them, with sums and parameters
    /// kept in Float32 (`BFloat16Exchange`; needs `reduction` reduceScatter).
    package var exchangeDType = ExchangeDType.float32
    /// Gradient buckets of about this many megabytes (reverse layer order).
    package var bucketMegabytes = 1.0
    /// Overlap communication with computation: each bucket's reduction starts as soon as backward
    /// has produced it, and the next forward waits for each layer's new parameters only when it
    /// reaches that layer. `auto`: when some transfer has computation to hide behind (`OverlapSetting`).
    package var overlap = OverlapSetting.auto
    /// How often a progress thread moves the transfers forward while the rank computes
    /// (microseconds; MPI jobs with overlap only).
    package var progressMicroseconds = 100
    /// Compare a checksum of every parameter tensor across ranks every this many steps (0: never).
    package var replicaCheckEvery = 100
    /// Re-plan ownership once, from the optimizer times measured in the first steps.
    package var replan = false
    /// The step after which to re-plan (times are measured from step 2 on).
    package var replanAfterSteps = 20
    /// On more than one rank, a rank that makes no progress (no step, evaluation batch or
    /// checkpoint phase finished) for this many seconds ends the job with a message (0: never).
    package var stallTimeoutSeconds = 600.0

    package static let fields: [ConfigField<DistributedConfig>] = [
        .init("reduction", \.reduction),
        .init("exchangeDType", \.exchangeDType),
        .check(at: \.exchangeDType, summary: "bfloat16 needs reduction reduceScatter") {
            $0.exchangeDType == .bfloat16 && $0.reduction != .reduceScatter
                ? "bfloat16 needs reduction reduceScatter: the owners form the Float32 sums" : nil
        },
        .init("bucketMegabytes", \.bucketMegabytes, .in(0...4096, excludingLower: true)),
        .init("overlap", \.overlap),
        .init("progressMicroseconds", \.progressMicroseconds, .within(1...1_000_000)),
        .init("replicaCheckEvery", \.replicaCheckEvery, .within(0...LoopConfig.maximumSteps)),
        .init("replan", \.replan),
        .init("replanAfterSteps", \.replanAfterSteps, .within(4...LoopConfig.maximumSteps)),
        .init("stallTimeoutSeconds", \.stallTimeoutSeconds, .atLeast(0).worded(">= 0 seconds (0: never)")),
    ]

    package static func defaults(given _: GivenFields<DistributedConfig>) -> DistributedConfig { DistributedConfig() }

    /// `bucketMegabytes` in bytes.
    package var bucketBytes: Int { Int(bucketMegabytes * 1_048_576) }
}

/// When rank 0 saves a checkpoint into the run folder, and how many it keeps.
package struct CheckpointConfig: ConfigRecord, Sendable, Equatable {
    /// Save every this many steps (0: not by steps).
    package var everySteps = 0
    /// Save when this many minutes have passed since the last save (0: not by time).
    package var everyMinutes = 30.0
    /// Save after the last step.
    package var atEnd = true
    /// Keep the newest this many checkpoints (and always the ones `latest` and `best` name).
    package var keep = 3
    /// The training loss has diverged while its recent average is more than this many times its
    /// running level (`LossHealth`); checkpoints written then do not become `latest`.
    package var divergenceFactor = 10.0

    package static let fields: [ConfigField<CheckpointConfig>] = [
        .init("everySteps", \.everySteps, .within(0...LoopConfig.maximumSteps)),
        .init("everyMinutes", \.everyMinutes, .atLeast(0)),
        .init("atEnd", \.atEnd),
        .init("keep", \.keep, .within(1...10_000)),
        .init("divergenceFactor", \.divergenceFactor, .in(1...1e12, excludingLower: true)),
    ]

    package static func defaults(given _: GivenFields<CheckpointConfig>) -> CheckpointConfig { CheckpointConfig() }
}
