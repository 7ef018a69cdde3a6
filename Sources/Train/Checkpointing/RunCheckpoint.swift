import Checkpoint
import Datasets
import Foundation
import Linalg
import NN
import Spectral
import Support

/// A run's state in and out of a checkpoint: the parameters (every rank holds them), each shard's
/// optimizer state (only its owner does, see `ShardStateTransfer`) and the manifest.
extension Trainer {
    /// Checkpoint tensor names: `param/<tensor>` and `optim/<shard>/<state>` (`ParameterShard.stateName`).
    static func parameterName(_ tensor: String) -> String { "param/\(tensor)" }
    static func optimizerName(_ shard: String, _ state: String) -> String { "optim/\(shard)/\(state)" }

    /// The run's state after `progress.step` steps, gathered on rank 0 (all ranks call this);
    /// nil on the other ranks.
    func checkpointContents(progress: TrainingProgress) throws(TrainError) -> CheckpointContents? {
        guard let optimizerTensors = try sharded.gatherStates(named: Self.optimizerName) else { return nil }
        let store = model.parameters
        let parameters = store.specs.indices.map { index in
            StoredTensor(name: Self.parameterName(store.specs[index].name), shape: store.specs[index].shape, floats: Array(store.values(at: index)))
        }
        let manifest = CheckpointManifest(
            step: progress.step, epoch: Double(progress.step) / Double(stepsPerEpoch),
            samplerCursor: SamplerCursor(globalStep: progress.step, stepsPerEpoch: stepsPerEpoch),
            seed: String(config.seed), randomness: CheckpointManifest.counterBasedRandomness, worldSize: communicator.size,
            ownership: Dictionary(uniqueKeysWithValues: zip(sharded.shards.map(\.name), sharded.plan.owners)),
            config: config, vocabulary: (workload as? LanguageModeling)?.vocabulary, progress: progress,
            versions: .init(spectrain: SpectrainVersion.current, checkpoint: CheckpointStore.format))
        return CheckpointContents(manifest: try manifest.jsonObject(), model: parameters, optimizer: optimizerTensors)
    }

    /// Checks on rank 0 that `contents` (read from `folder`) can continue this run: a compatible
    /// configuration and, for every parameter and every shard's optimizer state, a tensor of the
    /// right name, shape and type. Nothing is changed. Returns the run's progress at the checkpoint.
    package func validate(_ contents: CheckpointContents, folder: String) throws(TrainError) -> TrainingProgress {
        let manifest = try CheckpointManifest(contents.manifest, folder: folder)
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        if let difference = CheckpointCompatibility.difference(saved: manifest.config, current: config) {
            throw TrainError("\(manifestPath): incompatible configuration: \(difference)")
        }
        if let vocabulary = (workload as? LanguageModeling)?.vocabulary, manifest.vocabulary != vocabulary {
            throw TrainError(
                "\(manifestPath): the checkpoint's vocabulary (\(manifest.vocabulary?.count ?? 0) characters) is not the one \(config.data.text ?? "the text") gives (\(vocabulary.count) characters); the model's tokens would stand for other characters")
        }
        var progress = manifest.progress
        guard progress.step >= 0, progress.step <= totalSteps else {
            throw TrainError("\(manifestPath): checkpoint is at step \(progress.step), beyond this run's \(totalSteps) steps (raise training.epochs or maxSteps to continue)")
        }
        guard manifest.step == progress.step else {
            throw TrainError("\(manifestPath): step is \(manifest.step) but progress.step is \(progress.step)")
        }
        if let problem = progress.problem(totalSteps: totalSteps) { throw TrainError("\(manifestPath): \(problem)") }
        if let health = manifest.health, health.best, let loss = health.recentLoss {
            (progress.bestCheckpointStep, progress.bestCheckpointLoss) = (progress.step, loss)
        }
        try Self.checkParameters(of: model.parameters, in: contents, folder: folder)
        let optimPath = (folder as NSString).appendingPathComponent("optim.safetensors")
        let optimizerByName = Dictionary(uniqueKeysWithValues: contents.optimizer.map { ($0.name, $0) })
        for (stateName, expected) in try sharded.expectedCheckpointStates() {
            let name = Self.optimizerName(stateName, expected.name)
            guard let tensor = optimizerByName[name] else { throw TrainError("\(optimPath): tensor '\(name)' is missing") }
            guard tensor.dtype == expected.dtype, tensor.shape == expected.shape else {
                let precisions: Set<TensorDType> = [.float32, .bfloat16]
                let hint = tensor.shape == expected.shape && precisions.isSuperset(of: [tensor.dtype, expected.dtype])
                    ? " (saved with another optimizer.preconditioner.stateDType; resume with the one it was saved with)" : ""
                throw TrainError("\(optimPath): tensor '\(name)' is \(tensor.shape) \(tensor.dtype.rawValue), expected \(expected.shape) \(expected.dtype.rawValue)\(hint)")
            }
        }
        if let problem = CheckpointHealth.nonFiniteTensor(in: contents) {
            throw TrainError("\(folder): \(problem); a checkpoint is never written from such a state, so this one was altered")
        }
        for tensor in contents.optimizer where tensor.name.hasSuffix(".eigenvectors") {
            guard tensor.shape.count == 2, tensor.shape[0] == tensor.shape[1], let values = tensor.realValues else { continue }
            let vectors = Matrix<Float>(rows: tensor.shape[0], columns: tensor.shape[1], elements: values)
            let defect = SpectralFactorState<Float>.orthonormalityDefect(vectors)
            guard defect <= SpectralFactorState<Float>.storedOrthonormalityTolerance else {
                throw TrainError("\(optimPath): tensor '\(tensor.name)' is not orthonormal (max |B^T B - I| = \(defect)); the state is damaged")
            }
        }
        return progress
    }

    /// Checks that `contents` (read from `folder`) holds every tensor of `store` by its
    /// checkpoint name, with its shape, as Float32.
    static func checkParameters(of store: ParameterStore<Float>, in contents: CheckpointContents, folder: String) throws(TrainError) {
        let modelPath = (folder as NSString).appendingPathComponent("model.safetensors")
        let byName = Dictionary(uniqueKeysWithValues: contents.model.map { ($0.name, $0) })
        for spec in store.specs {
            let name = parameterName(spec.name)
            guard let tensor = byName[name] else { throw TrainError("\(modelPath): tensor '\(name)' is missing") }
            guard tensor.dtype == .float32, tensor.shape == spec.shape else {
                throw TrainError("\(modelPath): tensor '\(name)' is \(tensor.shape) \(tensor.dtype.rawValue), the model needs \(spec.shape) F32")
            }
        }
    }

    /// Copies the parameters of `contents`, checked by `checkParameters`, into `store`.
    static func loadParameters(into store: ParameterStore<Float>, from contents: CheckpointContents) {
        let byName = Dictionary(uniqueKeysWithValues: contents.model.map { ($0.name, $0) })
        for (index, spec) in store.specs.enumerated() {
            _ = store.values(at: index).update(fromContentsOf: byName[parameterName(spec.name)]!.floats)
        }
    }

    /// Loads `contents` (validated, present on rank 0 only) into every rank: the parameters
    /// broadcast, each shard's optimizer state sent to its owner. All ranks call this.
    package func restore(from contents: CheckpointContents?) throws(TrainError) {
        let store = model.parameters
        if communicator.rank == 0, let contents { Self.loadParameters(into: store, from: contents) }
        do {
            try communicator.broadcast(store.values, root: 0)
        } catch {
            throw TrainError("resume: \(error)")
        }
        let stored = contents.map { Dictionary(uniqueKeysWithValues: $0.optimizer.map { ($0.name, $0) }) }
        try sharded.scatterStates(stored.map { stored in
            { stateName, tensorName in NamedTensor(stored[Self.optimizerName(stateName, tensorName)]!, name: tensorName) }
        })
    }
}
