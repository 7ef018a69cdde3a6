import Datasets
import Foundation
import NN
import Optim
import Support

/// Everything a training run is: data, model, optimizer and loop settings. Decoded from JSON
/// with every problem reported by field; written back, resolved, into the run folder.
public struct TrainConfig: Sendable, Equatable {
    /// Run name: the run folder is `runDirectory/name`.
    public var name: String
    public var runDirectory: String
    public var seed: UInt64
    public var data: DataConfig
    public var model: ModelConfig
    public var optimizer: OptimizerConfig
    public var training: LoopConfig
    public var distributed: DistributedConfig
    public var checkpoint: CheckpointConfig

    public init(name: String, runDirectory: String = "runs", seed: UInt64 = 1, data: DataConfig = DataConfig(),
                model: ModelConfig, optimizer: OptimizerConfig, training: LoopConfig = LoopConfig(),
                distributed: DistributedConfig = DistributedConfig(), checkpoint: CheckpointConfig = CheckpointConfig()) {
        self.name = name
        self.runDirectory = runDirectory
        self.seed = seed
        self.data = data
        self.model = model
        self.optimizer = optimizer
        self.training = training
        self.distributed = distributed
        self.checkpoint = checkpoint
    }

    /// The run folder.
    public var runPath: String { (runDirectory as NSString).appendingPathComponent(name) }
}

/// The network: a list of layers applied to each sample.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var layers: [LayerSpec]

    public init(layers: [LayerSpec]) {
        self.layers = layers
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case layers }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        layers = try container.decode([LayerSpec].self, forKey: .layers)
        guard !layers.isEmpty else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.layers], debugDescription: "needs at least one layer"))
        }
    }
}

/// The loop: how long, how big a batch, how often to evaluate and log.
public struct LoopConfig: Codable, Sendable, Equatable {
    public var epochs: Int
    /// The global batch (summed over ranks).
    public var batchSize: Int
    /// Stop after this many steps (nil: after `epochs`).
    public var maxSteps: Int?
    /// Log a metrics line every this many steps.
    public var logEvery: Int
    /// Evaluate on the test split every this many steps (0: at the end of each epoch only).
    public var evalEvery: Int
    public var evalBatchSize: Int
    /// Measure factor health every this many steps (0: never).
    public var healthEvery: Int
    /// Stop after this many consecutive steps with a non-finite loss or gradient.
    public var maxNonFiniteSteps: Int
    /// The summary reports when test accuracy first reaches this (nil: no target).
    public var targetAccuracy: Double?

    public init(epochs: Int = 5, batchSize: Int = 128, maxSteps: Int? = nil, logEvery: Int = 50, evalEvery: Int = 0,
                evalBatchSize: Int = 500, healthEvery: Int = 0, maxNonFiniteSteps: Int = 10, targetAccuracy: Double? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.maxSteps = maxSteps
        self.logEvery = logEvery
        self.evalEvery = evalEvery
        self.evalBatchSize = evalBatchSize
        self.healthEvery = healthEvery
        self.maxNonFiniteSteps = maxNonFiniteSteps
        self.targetAccuracy = targetAccuracy
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize, maxSteps, logEvery, evalEvery, evalBatchSize, healthEvery, maxNonFiniteSteps, targetAccuracy
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = LoopConfig()
        self.init(
            epochs: try container.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs,
            batchSize: try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize,
            maxSteps: try container.decodeIfPresent(Int.self, forKey: .maxSteps),
            logEvery: try container.decodeIfPresent(Int.self, forKey: .logEvery) ?? defaults.logEvery,
            evalEvery: try container.decodeIfPresent(Int.self, forKey: .evalEvery) ?? defaults.evalEvery,
            evalBatchSize: try container.decodeIfPresent(Int.self, forKey: .evalBatchSize) ?? defaults.evalBatchSize,
            healthEvery: try container.decodeIfPresent(Int.self, forKey: .healthEvery) ?? defaults.healthEvery,
            maxNonFiniteSteps: try container.decodeIfPresent(Int.self, forKey: .maxNonFiniteSteps) ?? defaults.maxNonFiniteSteps,
            targetAccuracy: try container.decodeIfPresent(Double.self, forKey: .targetAccuracy))
        try requireField(epochs >= 1, decoder, CodingKeys.epochs, "must be >= 1, got \(epochs)")
        try requireField(batchSize >= 1, decoder, CodingKeys.batchSize, "must be >= 1, got \(batchSize)")
        try requireField(maxSteps.map { $0 >= 1 } ?? true, decoder, CodingKeys.maxSteps, "must be >= 1, got \(maxSteps ?? 0)")
        try requireField(logEvery >= 1, decoder, CodingKeys.logEvery, "must be >= 1, got \(logEvery)")
        try requireField(evalEvery >= 0, decoder, CodingKeys.evalEvery, "must be >= 0, got \(evalEvery)")
        try requireField(evalBatchSize >= 1, decoder, CodingKeys.evalBatchSize, "must be >= 1, got \(evalBatchSize)")
        try requireField(healthEvery >= 0, decoder, CodingKeys.healthEvery, "must be >= 0, got \(healthEvery)")
        try requireField(maxNonFiniteSteps >= 1, decoder, CodingKeys.maxNonFiniteSteps, "must be >= 1, got \(maxNonFiniteSteps)")
        try requireField(targetAccuracy.map { $0 > 0 && $0 <= 1 } ?? true, decoder, CodingKeys.targetAccuracy, "must be in (0, 1], got \(targetAccuracy ?? 0)")
    }
}

extension TrainConfig: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, runDirectory, seed, data, model, optimizer, training, distributed, checkpoint
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        runDirectory = try container.decodeIfPresent(String.self, forKey: .runDirectory) ?? "runs"
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        data = try container.decodeIfPresent(DataConfig.self, forKey: .data) ?? DataConfig()
        model = try container.decode(ModelConfig.self, forKey: .model)
        optimizer = try container.decode(OptimizerConfig.self, forKey: .optimizer)
        training = try container.decodeIfPresent(LoopConfig.self, forKey: .training) ?? LoopConfig()
        distributed = try container.decodeIfPresent(DistributedConfig.self, forKey: .distributed) ?? DistributedConfig()
        checkpoint = try container.decodeIfPresent(CheckpointConfig.self, forKey: .checkpoint) ?? CheckpointConfig()
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(allowed.contains), !name.hasPrefix(".") else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath + [CodingKeys.name],
                debugDescription: "'\(name)' is not a run name (letters, digits, '-', '_', '.'; not starting with '.')"))
        }
    }

    /// Loads a configuration file with `--set` overrides.
    public static func load(path: String, overrides: [String] = []) throws(ConfigurationError) -> TrainConfig {
        try ConfigurationFile.load(TrainConfig.self, from: path, overrides: overrides)
    }

    /// The resolved configuration (every default filled in) as pretty JSON.
    public func resolvedJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// How a run spreads over ranks: the gradient reduction, its buckets, the replica check and the
/// optional re-planning of ownership from measured times.
public struct DistributedConfig: Codable, Sendable, Equatable {
    public var reduction: GradientReduction
    /// Gradient buckets of about this many megabytes (reverse layer order).
    public var bucketMegabytes: Double
    /// Compare a checksum of every parameter tensor across ranks every this many steps (0: never).
    public var replicaCheckEvery: Int
    /// Re-plan ownership once, from the optimizer times measured in the first steps.
    public var replan: Bool
    /// The step after which to re-plan (times are measured from step 2 on).
    public var replanAfterSteps: Int
    /// On more than one rank, a rank that makes no progress (no step, evaluation batch or
    /// checkpoint phase finished) for this many seconds ends the job with a message (0: never).
    public var stallTimeoutSeconds: Double

    public init(reduction: GradientReduction = .reduceScatter, bucketMegabytes: Double = 25, replicaCheckEvery: Int = 100,
                replan: Bool = false, replanAfterSteps: Int = 20, stallTimeoutSeconds: Double = 600) {
        self.reduction = reduction
        self.bucketMegabytes = bucketMegabytes
        self.replicaCheckEvery = replicaCheckEvery
        self.replan = replan
        self.replanAfterSteps = replanAfterSteps
        self.stallTimeoutSeconds = stallTimeoutSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case reduction, bucketMegabytes, replicaCheckEvery, replan, replanAfterSteps, stallTimeoutSeconds
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DistributedConfig()
        self.init(
            reduction: try container.decodeIfPresent(GradientReduction.self, forKey: .reduction) ?? defaults.reduction,
            bucketMegabytes: try container.decodeIfPresent(Double.self, forKey: .bucketMegabytes) ?? defaults.bucketMegabytes,
            replicaCheckEvery: try container.decodeIfPresent(Int.self, forKey: .replicaCheckEvery) ?? defaults.replicaCheckEvery,
            replan: try container.decodeIfPresent(Bool.self, forKey: .replan) ?? defaults.replan,
            replanAfterSteps: try container.decodeIfPresent(Int.self, forKey: .replanAfterSteps) ?? defaults.replanAfterSteps,
            stallTimeoutSeconds: try container.decodeIfPresent(Double.self, forKey: .stallTimeoutSeconds) ?? defaults.stallTimeoutSeconds)
        try requireField(bucketMegabytes > 0 && bucketMegabytes <= 4096, decoder, CodingKeys.bucketMegabytes, "must be in (0, 4096], got \(bucketMegabytes)")
        try requireField(replicaCheckEvery >= 0, decoder, CodingKeys.replicaCheckEvery, "must be >= 0, got \(replicaCheckEvery)")
        try requireField(replanAfterSteps >= 4, decoder, CodingKeys.replanAfterSteps, "must be >= 4, got \(replanAfterSteps)")
        try requireField(stallTimeoutSeconds >= 0 && stallTimeoutSeconds.isFinite, decoder, CodingKeys.stallTimeoutSeconds,
                         "must be >= 0 seconds (0: never), got \(stallTimeoutSeconds)")
    }
}

/// When rank 0 saves a checkpoint into the run folder, and how many it keeps.
public struct CheckpointConfig: Codable, Sendable, Equatable {
    /// Save every this many steps (0: not by steps).
    public var everySteps: Int
    /// Save when this many minutes have passed since the last save (0: not by time).
    public var everyMinutes: Double
    /// Save after the last step.
    public var atEnd: Bool
    /// Keep the newest this many checkpoints.
    public var keep: Int

    public init(everySteps: Int = 0, everyMinutes: Double = 30, atEnd: Bool = true, keep: Int = 3) {
        self.everySteps = everySteps
        self.everyMinutes = everyMinutes
        self.atEnd = atEnd
        self.keep = keep
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case everySteps, everyMinutes, atEnd, keep }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = CheckpointConfig()
        self.init(
            everySteps: try container.decodeIfPresent(Int.self, forKey: .everySteps) ?? defaults.everySteps,
            everyMinutes: try container.decodeIfPresent(Double.self, forKey: .everyMinutes) ?? defaults.everyMinutes,
            atEnd: try container.decodeIfPresent(Bool.self, forKey: .atEnd) ?? defaults.atEnd,
            keep: try container.decodeIfPresent(Int.self, forKey: .keep) ?? defaults.keep)
        try requireField(everySteps >= 0, decoder, CodingKeys.everySteps, "must be >= 0, got \(everySteps)")
        try requireField(everyMinutes >= 0 && everyMinutes.isFinite, decoder, CodingKeys.everyMinutes, "must be >= 0, got \(everyMinutes)")
        try requireField(keep >= 1, decoder, CodingKeys.keep, "must be >= 1, got \(keep)")
    }
}
