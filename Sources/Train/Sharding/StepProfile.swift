import Cluster
import NN
import Optim
import Support

/// What one training step of a configuration costs on one core, layer by layer and shard by
/// shard: the measurement `ScalingModel` predicts multi-node step times from.
///
/// Measured on one rank with one BLAS thread, computing as each rank of a larger job does (no
/// multiplication through the gradient's factors, which only a single rank can do): each layer's
/// forward and backward time per sample, the rest of forward and backward per sample (the loss,
/// zeroing gradients, loading the batch), and each shard's optimizer update per step, averaged
/// over whole steps so that factors updated every k steps count with their share.
package struct StepProfile: Sendable {
    /// Seconds per sample of each layer's forward and backward.
    package var forwardPerSample: [Double]
    package var backwardPerSample: [Double]
    /// Seconds per sample outside the layers (data, loss).
    package var otherPerSample: Double
    /// Seconds per step of each shard's optimizer update.
    package var updateSeconds: [Double]
    /// The parameter tensors, and the shards of one rank they were updated as (with `updateSeconds`).
    package var specs: [ParameterSpec]
    package var shards: [ParameterShard]
    /// The layer of each parameter tensor: the buckets come from them.
    package var tensorLayers: [Int]
    /// The global batch the step is for.
    package var globalBatch: Int
    /// The optimizer settings the shards were cut with (an "auto" blocking resolved), for the plan's cost model.
    package var optimizer: OptimizerConfig

    /// Times `steps` training steps of `config` after `warmup` on one rank (the caller runs with
    /// one BLAS thread), the optimizer's factors blocked as on `ranks` ranks.
    package static func measure(config: TrainConfig, ranks: Int, steps: Int, warmup: Int) throws(TrainError) -> StepProfile {
        var config = config
        config.training.maxSteps = warmup + steps
        config.optimizer = AutoBlocking.resolved(config.optimizer, shapes: try shapes(config), ranks: ranks).optimizer
        let trainer = try Trainer(
            config: config, communicator: SingleProcessCommunicator(), stopRequest: StopRequest { _ in nil }, factoredGradients: false) { _ in }
        let model = trainer.model
        let clock = LayerClock(layers: model.layers.count)
        model.boundaryObserver = clock
        defer { model.boundaryObserver = nil }
        let phases = PhaseRunner(watchdog: nil, faults: FaultInjection(), rank: 0, parameters: model.parameters)
        for step in 0..<warmup { _ = try trainer.trainStep(step, phases: phases) }
        clock.reset()
        _ = phases.takeTimes()
        let updateStart = trainer.sharded.shardSeconds
        let workload = trainer.workload
        for step in warmup..<(warmup + steps) {
            phases.run(.data, step: step + 1) { workload.loadBatch(step: step, rank: 0, ranks: 1) }
            let batch = phases.run(.forward, step: step + 1) { () -> (lossSum: Double, correct: Int, samples: Int) in
                clock.beginForward()
                defer { clock.endForward() }
                return workload.forward(step: step)
            }
            phases.run(.backward, step: step + 1) { workload.backward(step: step) }
            _ = try trainer.sharded.step(step, batch: BatchTotals(lossSum: batch.lossSum, correct: batch.correct, samples: batch.samples), phases: phases)
        }
        let times = phases.takeTimes()
        let samples = Double(steps * config.training.batchSize)
        let forward = clock.forward.map { $0 / samples }
        let backward = clock.backward.map { $0 / samples }
        let inLayers = (clock.forward.reduce(0, +) + clock.backward.reduce(0, +))
        let other = max(0, times.data + times.forward + times.backward - inLayers) / samples
        let update = zip(trainer.sharded.shardSeconds, updateStart).map { ($0 - $1) / Double(steps) }
        return StepProfile(
            forwardPerSample: forward, backwardPerSample: backward, otherPerSample: other, updateSeconds: update,
            specs: model.parameters.specs, shards: trainer.sharded.shards, tensorLayers: model.tensorLayers, globalBatch: config.training.batchSize,
            optimizer: config.optimizer)
    }

    /// The shards of a job on `ranks` ranks and each one's update time per step: a tensor cut into
    /// row bands there (`ParameterShard.shards(of:optimizer:ranks:)`) shares its measured update
    /// by element count, as its elementwise update does.
    package func shards(onRanks ranks: Int) -> (shards: [ParameterShard], updateSeconds: [Double]) {
        let measured = Dictionary(uniqueKeysWithValues: zip(shards.map(\.name), zip(shards.map(\.count), updateSeconds)))
        let cut = ParameterShard.shards(of: specs, optimizer: optimizer, ranks: ranks)
        let seconds = cut.map { shard -> Double in
            if let (_, seconds) = measured[shard.name] { return seconds }
            guard let (count, seconds) = measured[shard.stateName] else {
                preconditionFailure("StepProfile: shard \(shard.name) is neither measured nor a band of a measured tensor")
            }
            return seconds * Double(shard.count) / Double(count)
        }
        return (cut, seconds)
    }

    /// The shapes of `config`'s parameter tensors, read from the data's headers.
    static func shapes(_ config: TrainConfig) throws(TrainError) -> [[Int]] {
        guard let shapes = config.parameterShapes() else { throw TrainError("cannot read the data to size the model of \(config.name)") }
        return shapes
    }
}

/// Times each layer's forward and backward from the model's layer boundaries: a layer's forward
/// runs from its `willRunForward` to the next one's (the last layer's, with the loss, to the end of
/// forward), its backward from the previous `didFinishBackward` (the first, with the loss's
/// backward, from the end of forward) to its own.
private final class LayerClock: LayerBoundaryObserver {
    private(set) var forward: [Double]
    private(set) var backward: [Double]
    private var last: ContinuousClock.Instant?
    private var forwardLayer: Int?

    init(layers: Int) {
        forward = [Double](repeating: 0, count: layers)
        backward = [Double](repeating: 0, count: layers)
    }

    func reset() {
        forward = forward.map { _ in 0 }
        backward = backward.map { _ in 0 }
    }

    func beginForward() { (last, forwardLayer) = (nil, nil) }

    func endForward() {
        let now = ContinuousClock.now
        if let last, let layer = forwardLayer { forward[layer] += last.duration(to: now).inSeconds }
        (last, forwardLayer) = (now, nil)
    }

    func willRunForward(layer: Int) {
        let now = ContinuousClock.now
        if let last, let previous = forwardLayer { forward[previous] += last.duration(to: now).inSeconds }
        (last, forwardLayer) = (now, layer)
    }

    func didFinishBackward(layer: Int) {
        let now = ContinuousClock.now
        if let last { backward[layer] += last.duration(to: now).inSeconds }
        last = now
    }
}
