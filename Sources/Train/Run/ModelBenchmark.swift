import Linalg

/// What a configuration's training step costs (`spectrain bench model`, `bench step`): the time
/// split of whole steps and the matrix-product work of one forward and one backward pass, so the
/// achieved GFLOP/s of each pass can be set beside sgemm's.
package struct ModelBenchmark: Sendable {
    /// Steps timed (after the warm-up).
    package var steps: Int
    /// Samples of the global batch, and predictions per sample (the context of a language model).
    package var batchSize: Int
    package var predictionsPerSample: Int
    /// Seconds per phase, summed over the timed steps (this rank's).
    package var times: StepTimes
    /// Floating-point operations of the matrix products of one forward and one backward pass of
    /// this rank's share of the batch.
    package var forwardOperations: Int
    package var backwardOperations: Int
    /// The bytes this rank's optimizer step must move at the least (`Optimizer.minimumTraffic`).
    package var optimizerTraffic: Int
}

/// A benchmark taken in rounds, so that several trainers can be timed in turn on a noisy machine
/// (`spectrain bench step`): the model trains as it would in a run; nothing is written.
package final class BenchmarkSession {
    private let trainer: Trainer
    private let phases: PhaseRunner
    private var nextStep: Int
    private var result: ModelBenchmark

    /// Runs `warmup` training steps and counts the matrix-product operations of one more forward
    /// and backward (without an update).
    init(trainer: Trainer, warmup: Int) throws(TrainError) {
        self.trainer = trainer
        let communicator = trainer.communicator
        phases = PhaseRunner(watchdog: nil, faults: FaultInjection(), rank: communicator.rank, parameters: trainer.model.parameters)
        for step in 0..<warmup { _ = try trainer.trainStep(step, phases: phases) }
        let workload = trainer.workload
        workload.loadBatch(step: warmup, rank: communicator.rank, ranks: communicator.size)
        let start = BLAS.productOperations.load(ordering: .relaxed)
        _ = workload.forward(step: warmup)
        let middle = BLAS.productOperations.load(ordering: .relaxed)
        workload.backward(step: warmup)
        let end = BLAS.productOperations.load(ordering: .relaxed)
        _ = phases.takeTimes()
        nextStep = warmup
        let sharded = trainer.sharded
        let owned = sharded.optimizer.shards.indices.filter { sharded.plan.owners[$0] == communicator.rank }
        result = ModelBenchmark(
            steps: 0, batchSize: trainer.config.training.batchSize, predictionsPerSample: workload.predictionsPerSample,
            times: StepTimes(), forwardOperations: middle - start, backwardOperations: end - middle,
            optimizerTraffic: owned.reduce(0) { $0 + sharded.optimizer.minimumTraffic(shard: $1) })
    }

    /// Times `steps` more whole training steps.
    package func run(steps: Int) throws(TrainError) {
        for step in nextStep..<(nextStep + steps) { _ = try trainer.trainStep(step, phases: phases) }
        nextStep += steps
        result.steps += steps
        result.times = result.times + phases.takeTimes()
    }

    /// The steps timed so far.
    package var benchmark: ModelBenchmark { result }
}

extension Trainer {
    /// A benchmark session after `warmup` steps (`BenchmarkSession`). The trainer's `totalSteps`
    /// must cover the warm-up and every step timed.
    package func startBenchmark(warmup: Int) throws(TrainError) -> BenchmarkSession {
        try BenchmarkSession(trainer: self, warmup: warmup)
    }

    /// Runs `warmup` training steps, counts the matrix-product operations of one more forward and
    /// backward (without an update), then times `steps` whole training steps.
    package func benchmark(steps: Int, warmup: Int) throws(TrainError) -> ModelBenchmark {
        let session = try startBenchmark(warmup: warmup)
        try session.run(steps: steps)
        return session.benchmark
    }
}
