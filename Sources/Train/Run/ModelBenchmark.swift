import Linalg

/// What a configuration's training step costs (`spectrain bench model`): the time split of whole
/// steps and the matrix-product work of one forward and one backward pass, so the achieved
/// GFLOP/s of each pass can be set beside sgemm's.
public struct ModelBenchmark: Sendable {
    /// Steps timed (after the warm-up).
    public var steps: Int
    /// Samples of the global batch, and predictions per sample (the context of a language model).
    public var batchSize: Int
    public var predictionsPerSample: Int
    /// Seconds per phase, summed over the timed steps (this rank's).
    public var times: StepTimes
    /// Floating-point operations of the matrix products of one forward and one backward pass of
    /// this rank's share of the batch.
    public var forwardOperations: Int
    public var backwardOperations: Int
}

extension Trainer {
    /// Runs `warmup` training steps, counts the matrix-product operations of one more forward and
    /// backward (without an update), then times `steps` whole training steps. The model trains as
    /// it would in a run; nothing is written.
    public func benchmark(steps: Int, warmup: Int) throws(TrainError) -> ModelBenchmark {
        let phases = PhaseRunner(watchdog: nil, faults: FaultInjection(), rank: communicator.rank, parameters: model.parameters)
        for step in 0..<warmup { _ = try trainStep(step, phases: phases) }
        let (rank, ranks) = (communicator.rank, communicator.size)
        workload.loadBatch(step: warmup, rank: rank, ranks: ranks)
        let start = BLAS.gemmOperations.load(ordering: .relaxed)
        _ = workload.forward(step: warmup)
        let middle = BLAS.gemmOperations.load(ordering: .relaxed)
        workload.backward(step: warmup)
        let end = BLAS.gemmOperations.load(ordering: .relaxed)
        _ = phases.takeTimes()
        for step in warmup..<(warmup + steps) { _ = try trainStep(step, phases: phases) }
        return ModelBenchmark(
            steps: steps, batchSize: config.training.batchSize, predictionsPerSample: workload.predictionsPerSample,
            times: phases.takeTimes(), forwardOperations: middle - start, backwardOperations: end - middle)
    }
}
