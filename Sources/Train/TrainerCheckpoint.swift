import Checkpoint
import Cluster
import Datasets
import Foundation
import Linalg
import NN
import Optim
import Support
import Synchronization

/// Moving a run's state between its ranks and a checkpoint: parameters (every rank holds them)
/// and each shard's optimizer state (only its owner does).
///
/// Saving streams the state to rank 0 one shard at a time (`gatherv` from the owner), never the
/// whole state in one message. Resuming sends each shard's state from rank 0 to its owner under
/// the current world size (`scatterv`), so a run saved on N ranks continues on M.
extension Trainer {
    /// Checkpoint tensor names: `param/<tensor>` and `optim/<shard>/<state>`.
    static func parameterName(_ tensor: String) -> String { "param/\(tensor)" }
    static func optimizerName(_ shard: String, _ state: String) -> String { "optim/\(shard)/\(state)" }

    /// Gathers the state on rank 0 (all ranks call this); nil elsewhere.
    func checkpointContents(progress: Progress) throws(TrainError) -> CheckpointContents? {
        let isRoot = communicator.rank == 0
        var sizes = shards.indices.map { plan.owners[$0] == communicator.rank ? Int64(0) : 0 }
        var payloads: [Int: [UInt8]] = [:]
        for index in shards.indices where plan.owners[index] == communicator.rank {
            let payload = ShardState.encode(optimizer.stateTensors(shard: index))
            payloads[index] = payload
            sizes[index] = Int64(payload.count)
        }
        var optimizerTensors: [StoredTensor] = []
        do {
            try communicator.allreduce(&sizes, operation: .sum)
            for index in shards.indices {
                let owner = plan.owners[index]
                var counts = [Int](repeating: 0, count: communicator.size)
                counts[owner] = Int(sizes[index])
                let partition = try Partition(counts: counts)
                let received = try communicator.gatherv(payloads[index] ?? [], partition: partition, root: 0)
                if isRoot, let received {
                    for tensor in try ShardState.decode(received, shard: shards[index].name) {
                        optimizerTensors.append(Self.stored(tensor, name: Self.optimizerName(shards[index].name, tensor.name)))
                    }
                }
            }
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("checkpoint: \(error)")
        }
        guard isRoot else { return nil }
        let store = model.parameters
        let parameters = store.specs.indices.map { index in
            StoredTensor(name: Self.parameterName(store.specs[index].name), shape: store.specs[index].shape, floats: Array(store.values(at: index)))
        }
        var ownership: [String: JSONValue] = [:]
        for (index, shard) in shards.enumerated() { ownership[shard.name] = .number(Double(plan.owners[index])) }
        let manifest: [String: JSONValue]
        do {
            let cursor = SamplerCursor(globalStep: progress.step, stepsPerEpoch: stepsPerEpoch)
            manifest = [
                "step": .number(Double(progress.step)),
                "epoch": .number(Double(progress.step) / Double(stepsPerEpoch)),
                "samplerCursor": try JSONValue(encoding: cursor),
                "seed": .string(String(config.seed)),
                "randomness": .string("counter-based: the sample order and dropout masks are pure functions of (seed, epoch or step, sample index); there is no generator state to save"),
                "worldSize": .number(Double(communicator.size)),
                "ownership": .object(ownership),
                "config": try JSONValue(encoding: config),
                "progress": try JSONValue(encoding: progress),
                "versions": .object(["spectrain": .string(SpectrainVersion.current), "checkpoint": .string(CheckpointStore.format)]),
            ]
        } catch {
            throw TrainError("checkpoint: cannot describe the run (\(error))")
        }
        return CheckpointContents(manifest: manifest, model: parameters, optimizer: optimizerTensors)
    }

    static func stored(_ tensor: NamedTensor, name: String) -> StoredTensor {
        switch tensor.storage {
        case .float32(let values): return StoredTensor(name: name, shape: tensor.shape, floats: values)
        case .int64(let values): return StoredTensor(name: name, shape: tensor.shape, integers: values)
        }
    }

    /// Checks on rank 0 that `contents` can continue this run: a compatible configuration and,
    /// for every parameter and every shard's optimizer state, a tensor of the right name, shape
    /// and type. Nothing is changed. Returns the run's progress at the checkpoint.
    func validate(_ contents: CheckpointContents, folder: String) throws(TrainError) -> Progress {
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        func problem(_ message: String) -> TrainError { TrainError("\(manifestPath): \(message)") }
        let saved: TrainConfig
        let progress: Progress
        do {
            guard let config = contents.manifest["config"], let progressValue = contents.manifest["progress"] else {
                throw problem("missing config or progress")
            }
            saved = try JSONDecoder().decode(TrainConfig.self, from: config.encoded())
            progress = try JSONDecoder().decode(Progress.self, from: progressValue.encoded())
        } catch let error as TrainError {
            throw error
        } catch {
            throw problem("config or progress does not decode (\(error))")
        }
        if let difference = Self.incompatibility(saved: saved, current: config) {
            throw problem("incompatible configuration: \(difference)")
        }
        guard progress.step >= 0, progress.step <= totalSteps else {
            throw problem("checkpoint is at step \(progress.step), beyond this run's \(totalSteps) steps (raise training.epochs or maxSteps to continue)")
        }
        let modelPath = (folder as NSString).appendingPathComponent("model.safetensors")
        let byName = Dictionary(uniqueKeysWithValues: contents.model.map { ($0.name, $0) })
        for spec in model.parameters.specs {
            let name = Self.parameterName(spec.name)
            guard let tensor = byName[name] else { throw TrainError("\(modelPath): tensor '\(name)' is missing") }
            guard tensor.dtype == .float32, tensor.shape == spec.shape else {
                throw TrainError("\(modelPath): tensor '\(name)' is \(tensor.shape) \(tensor.dtype.rawValue), the model needs \(spec.shape) F32")
            }
        }
        let optimPath = (folder as NSString).appendingPathComponent("optim.safetensors")
        let optimizerByName = Dictionary(uniqueKeysWithValues: contents.optimizer.map { ($0.name, $0) })
        let reference: Optimizer
        do {
            reference = try Optimizer(config: config.optimizer, shards: shards.map(\.info), totalSteps: totalSteps, globalBatch: config.training.batchSize)
        } catch {
            throw TrainError("\(error)")
        }
        for (index, shard) in shards.enumerated() {
            for expected in reference.stateTensors(shard: index) {
                let name = Self.optimizerName(shard.name, expected.name)
                guard let tensor = optimizerByName[name] else { throw TrainError("\(optimPath): tensor '\(name)' is missing") }
                let dtype: TensorDType = expected.floats != nil ? .float32 : .int64
                guard tensor.dtype == dtype, tensor.shape == expected.shape else {
                    throw TrainError("\(optimPath): tensor '\(name)' is \(tensor.shape) \(tensor.dtype.rawValue), expected \(expected.shape) \(dtype.rawValue)")
                }
            }
            reference.releaseState(shard: index)
        }
        return progress
    }

    /// The first difference between two configurations that a checkpoint cannot carry across, or nil.
    static func incompatibility(saved: TrainConfig, current: TrainConfig) -> String? {
        if saved.model != current.model { return "model.layers differ from the checkpoint's" }
        if saved.seed != current.seed { return "seed is \(current.seed), the checkpoint's is \(saved.seed)" }
        if saved.training.batchSize != current.training.batchSize {
            return "training.batchSize is \(current.training.batchSize), the checkpoint's is \(saved.training.batchSize)"
        }
        if saved.data.trainImages != current.data.trainImages || saved.data.trainLabels != current.data.trainLabels {
            return "data.trainImages / data.trainLabels differ from the checkpoint's"
        }
        let (old, new) = (saved.optimizer, current.optimizer)
        if old.type != new.type { return "optimizer.type is \(new.type.rawValue), the checkpoint's is \(old.type.rawValue)" }
        if (old.momentum > 0) != (new.momentum > 0) { return "optimizer.momentum switches momentum \(new.momentum > 0 ? "on" : "off")" }
        if old.type == .spectral || old.type == .eigenShampoo {
            if old.grafting != new.grafting { return "optimizer.grafting is \(new.grafting.rawValue), the checkpoint's is \(old.grafting.rawValue)" }
            let (a, b) = (old.preconditioner, new.preconditioner)
            if a.mode != b.mode { return "optimizer.preconditioner.mode is \(b.mode.rawValue), the checkpoint's is \(a.mode.rawValue)" }
            if a.maxFactorDimension != b.maxFactorDimension {
                return "optimizer.preconditioner.maxFactorDimension is \(b.maxFactorDimension), the checkpoint's is \(a.maxFactorDimension)"
            }
            if a.largeDimensions != b.largeDimensions { return "optimizer.preconditioner.largeDimensions differs from the checkpoint's" }
        }
        return nil
    }

    /// Loads `contents` (present on rank 0 only) into every rank: parameters broadcast, each
    /// shard's optimizer state sent to its owner. All ranks call this.
    func restore(from contents: CheckpointContents?) throws(TrainError) {
        let isRoot = communicator.rank == 0
        do {
            let store = model.parameters
            if isRoot, let contents {
                let byName = Dictionary(uniqueKeysWithValues: contents.model.map { ($0.name, $0) })
                for (index, spec) in store.specs.enumerated() {
                    let values = byName[Self.parameterName(spec.name)]!.floats
                    _ = store.values(at: index).update(fromContentsOf: values)
                }
            }
            try communicator.broadcast(store.values, root: 0)
            var payloads: [Int: [UInt8]] = [:]
            var sizes = [Int64](repeating: 0, count: shards.count)
            if isRoot, let contents {
                let byName = Dictionary(uniqueKeysWithValues: contents.optimizer.map { ($0.name, $0) })
                let reference = try Optimizer(config: config.optimizer, shards: shards.map(\.info), totalSteps: totalSteps, globalBatch: config.training.batchSize)
                for (index, shard) in shards.enumerated() {
                    var tensors: [NamedTensor] = []
                    for expected in reference.stateTensors(shard: index) {
                        let stored = byName[Self.optimizerName(shard.name, expected.name)]!
                        tensors.append(stored.dtype == .float32
                            ? NamedTensor(name: expected.name, shape: stored.shape, values: stored.floats)
                            : NamedTensor(name: expected.name, integers: stored.integers))
                    }
                    reference.releaseState(shard: index)
                    let payload = ShardState.encode(tensors)
                    payloads[index] = payload
                    sizes[index] = Int64(payload.count)
                }
            }
            try communicator.broadcast(&sizes, root: 0)
            for (index, shard) in shards.enumerated() {
                let owner = plan.owners[index]
                var counts = [Int](repeating: 0, count: communicator.size)
                counts[owner] = Int(sizes[index])
                let partition = try Partition(counts: counts)
                let received = try communicator.scatterv(isRoot ? payloads[index] : nil, partition: partition, root: 0)
                if communicator.rank == owner {
                    try optimizer.restore(shard: index, from: ShardState.decode(received, shard: shard.name))
                }
            }
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("resume: \(error)")
        }
    }
}

/// One shard's optimizer state as bytes: an 8-byte length, a JSON list of (name, shape, dtype),
/// then each tensor's raw little-endian values.
enum ShardState {
    struct Entry: Codable {
        var name: String
        var shape: [Int]
        var dtype: String
    }

    static func encode(_ tensors: [NamedTensor]) -> [UInt8] {
        let entries = tensors.map { Entry(name: $0.name, shape: $0.shape, dtype: $0.floats != nil ? "F32" : "I64") }
        let header = (try? JSONEncoder().encode(entries)) ?? Data()
        var bytes: [UInt8] = []
        var length = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        for tensor in tensors {
            switch tensor.storage {
            case .float32(let values): values.withUnsafeBytes { bytes.append(contentsOf: $0) }
            case .int64(let values): values.withUnsafeBytes { bytes.append(contentsOf: $0) }
            }
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8], shard: String) throws(TrainError) -> [NamedTensor] {
        func corrupt() -> TrainError { TrainError("optimizer state of \(shard) arrived corrupt") }
        guard bytes.count >= 8 else { throw corrupt() }
        let length = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        guard length <= bytes.count - 8, let entries = try? JSONDecoder().decode([Entry].self, from: Data(bytes[8..<(8 + length)])) else {
            throw corrupt()
        }
        var position = 8 + length
        var tensors: [NamedTensor] = []
        for entry in entries {
            let count = entry.shape.reduce(1, *)
            let size = count * (entry.dtype == "F32" ? 4 : 8)
            guard position + size <= bytes.count else { throw corrupt() }
            let slice = bytes[position..<(position + size)]
            if entry.dtype == "F32" {
                let values = slice.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                tensors.append(NamedTensor(name: entry.name, shape: entry.shape, values: values))
            } else {
                tensors.append(NamedTensor(name: entry.name, integers: slice.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }))
            }
            position += size
        }
        return tensors
    }
}

/// When to save during a run, and the background thread that writes: rank 0 gathers the state
/// (training waits only for that copy), then a serial queue writes the files while training goes
/// on. A save waits for the previous write to finish; the run's end waits for the last.
public final class CheckpointCadence: Sendable {
    let settings: CheckpointConfig
    let runFolder: String
    /// Test hook: `SPECTRAIN_CHECKPOINT_PAUSE=STEP:SECONDS` makes the writer pause that long with
    /// the files of step STEP's checkpoint written but not yet renamed into place, so that a test
    /// can kill the process in the middle of a save.
    let pause: (step: Int, seconds: Double)?
    private let queue = DispatchQueue(label: "spectrain.checkpoint-writer")
    private let failure = Mutex<CheckpointError?>(nil)
    private let lastSave = Mutex<ContinuousClock.Instant>(ContinuousClock.now)
    private let reportLine: @Sendable (String) -> Void

    public init(settings: CheckpointConfig, runFolder: String, report: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.runFolder = runFolder
        self.reportLine = report
        let hook = ProcessInfo.processInfo.environment["SPECTRAIN_CHECKPOINT_PAUSE"]?.split(separator: ":").compactMap { Double($0) }
        pause = hook.flatMap { $0.count == 2 ? (Int($0[0]), $0[1]) : nil }
    }

    /// Whether to save after `step` (a collective when saving by time: rank 0's clock decides).
    func isDue(step: Int, isLast: Bool, communicator: any Communicator) throws(TrainError) -> Bool {
        var due = (settings.everySteps > 0 && step % settings.everySteps == 0) || (isLast && settings.atEnd)
        if settings.everyMinutes > 0 {
            var timeIsUp: [Int32] = [lastSave.withLock { $0.duration(to: .now).inSeconds } >= 60 * settings.everyMinutes ? 1 : 0]
            if communicator.size > 1 {
                do { try communicator.broadcast(&timeIsUp, root: 0) } catch { throw TrainError("\(error)") }
            }
            due = due || timeIsUp[0] != 0
        }
        return due
    }

    /// Gathers the state and hands it to the writer.
    func save(trainer: Trainer, progress: Trainer.Progress) throws(TrainError) {
        try rethrowFailure()
        guard let contents = try trainer.checkpointContents(progress: progress) else { return }
        queue.sync {}
        try rethrowFailure()
        lastSave.withLock { $0 = .now }
        let step = progress.step
        let (folder, keep, pause) = (runFolder, settings.keep, self.pause?.step == step ? self.pause!.seconds : 0)
        queue.async { [self] in
            do throws(CheckpointError) {
                let written = try CheckpointStore.write(contents, step: step, runFolder: folder, keep: keep, pauseBeforeCommit: pause)
                reportLine("  checkpoint: \(written)")
            } catch {
                failure.withLock { $0 = error }
            }
        }
    }

    /// Waits for the last write; reports a failed one.
    func finish() throws(TrainError) {
        queue.sync {}
        try rethrowFailure()
    }

    private func rethrowFailure() throws(TrainError) {
        if let error = failure.withLock({ $0 }) { throw TrainError("checkpoint not saved: \(error)") }
    }
}
