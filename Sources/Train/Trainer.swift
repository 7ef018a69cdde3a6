import Cluster
import Foundation
import Linalg
import NN
import Optim

/// The training loop: each step is data -> forward -> backward -> the sharded update (reduce
/// gradients, update owned shards, gather parameters); after it, evaluation, checks, logging and
/// checkpoints on their cadence.
///
/// The parts: `ImageClassification` (data, model, loss), `ShardedUpdate` (shards, ownership,
/// gradient exchange, optimizer), `RunMonitor` (metrics, health, progress line, summary),
/// `PhaseRunner` (timing, watchdog beats and injected faults around every phase) and
/// `CheckpointWriter` (when to save, and the background writer).
package final class Trainer {
    package let config: TrainConfig
    package let communicator: any Communicator
    package let workload: any Workload
    package let sharded: ShardedUpdate
    package let stepsPerEpoch: Int
    package let totalSteps: Int
    private let faults: FaultInjection
    private let stopRequest: StopRequest
    private let report: (String) -> Void

    /// Loads the data, builds and initialises the model, shards the optimizer over
    /// `communicator`'s ranks. `report` receives the human-readable lines (give it rank 0's
    /// output only, to keep ranks' output apart); `faults` are test faults to inject; `stopRequest`
    /// says when to stop early (`run`).
    /// `factoredGradients: false` keeps one rank from multiplying through the gradient's factors,
    /// so that it computes as each of several ranks does (`StepProfile`).
    package init(
        config: TrainConfig, communicator: any Communicator, faults: FaultInjection = FaultInjection(),
        stopRequest: StopRequest = .signals, factoredGradients: Bool = true, report: @escaping (String) -> Void
    ) throws(TrainError) {
        self.config = config
        self.communicator = communicator
        self.faults = faults
        self.stopRequest = stopRequest
        self.report = report
        // Decoding checks this; a configuration built in code is checked here, before allocating.
        if let problem = config.resourceProblem() { throw TrainError(problem) }
        workload = try makeWorkload(config: config, ranks: communicator.size)
        stepsPerEpoch = workload.stepsPerEpoch
        totalSteps = min(config.training.maxSteps ?? Int.max, config.training.epochs * stepsPerEpoch)
        try faults.check(tensors: workload.model.parameters.specs.count)
        let model = workload.model
        if communicator.size == 1 && factoredGradients {
            let specs = model.parameters.specs
            let kept = model.keepFactoredGradients(batch: config.training.batchSize) { tensor, rows in
                config.optimizer.multipliesThroughFactors(of: ParameterInfo(name: specs[tensor].name, shape: specs[tensor].shape), rows: rows)
            }
            if !kept.isEmpty { report("preconditioning through the gradient's factors dY^T X: " + kept.map { specs[$0].name }.joined(separator: ", ")) }
        }
        sharded = try ShardedUpdate(
            parameters: model.parameters, config: config, totalSteps: totalSteps, communicator: communicator, tensorLayers: model.tensorLayers,
            factoredGradient: { [unowned model] tensor in model.factoredGradient(tensor: tensor) }, report: report)
        if sharded.overlapsCommunication { model.boundaryObserver = sharded }
    }

    package var model: Sequential<Float> { workload.model }

    /// A short description of the run for the start of the log.
    package var header: String {
        """
        run \(config.name): \(workload.description); optimizer \(config.optimizer.type.rawValue); \
        \(totalSteps) steps of \(config.training.batchSize) (\(stepsPerEpoch) per epoch) on \(communicator.size) rank\(communicator.size == 1 ? "" : "s")
        """
    }

    // MARK: - The loop

    /// Trains from `start.step` to `totalSteps`, writing `metrics` (rank 0), saving checkpoints
    /// on the configured cadence through `checkpoints`, and returns the summary. A stop request
    /// (the trainer's `StopRequest`, by default `StopSignals`) on any rank ends the run after the
    /// same step on every rank, after a checkpoint, by throwing a `TrainError` whose `stopped`
    /// says so.
    package func run(metrics: MetricsWriter?, from start: TrainingProgress = TrainingProgress(), checkpoints: CheckpointWriter? = nil) throws(TrainError) -> TrainSummary {
        let monitor = RunMonitor(
            progress: start, metrics: metrics, loop: config.training, divergenceFactor: config.checkpoint.divergenceFactor,
            totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch, predictionsPerSample: workload.predictionsPerSample,
            evaluationName: workload.evaluationName, report: report)
        let watchdog = startWatchdog(step: start.step)
        defer { watchdog?.stop() }
        let phases = PhaseRunner(watchdog: watchdog, faults: faults, rank: communicator.rank, parameters: model.parameters)
        for step in start.step..<totalSteps {
            let totals = try trainStep(step, phases: phases)
            try monitor.recordStep(totals, step: step)
            let stopping = totals.isStopRequested && step + 1 < totalSteps
            let saved = try finishStep(step + 1, monitor: monitor, phases: phases, checkpoints: checkpoints, forceCheckpoint: stopping)
            if stopping { throw try stop(after: step + 1, saved: saved, checkpoints: checkpoints) }
        }
        try sharded.settle()
        try checkpoints?.finish()
        return monitor.summary(globalBatch: config.training.batchSize)
    }

    /// Ends a run that a signal stopped after step `completed`: every rank waits until rank 0's
    /// checkpoint is on disk, then all report the stop alike.
    private func stop(after completed: Int, saved: CheckpointOutcome?, checkpoints: CheckpointWriter?) throws(TrainError) -> TrainError {
        var problem = ""
        do throws(TrainError) { try checkpoints?.finish() } catch { problem = error.message }
        try TrainingRun.stopUnlessRootSucceeded(problem, communicator: communicator, otherRanks: "rank 0 could not save the checkpoint at the stop")
        let signal = stopRequest.pending(completed)
        guard communicator.rank == 0 else { return TrainError(TrainingStopped(step: completed, signal: signal), quiet: true) }
        let reason = saved == nil ? "checkpoints are off" : saved?.health.reason
        return TrainError(TrainingStopped(step: completed, signal: signal, checkpoint: saved?.folder, reason: reason), quiet: false)
    }

    /// One optimisation step on this rank's slice of global batch `step`: the batch's totals
    /// summed over ranks.
    func trainStep(_ step: Int, phases: PhaseRunner) throws(TrainError) -> BatchTotals {
        let (rank, ranks, number) = (communicator.rank, communicator.size, step + 1)
        phases.run(.data, step: number) { workload.loadBatch(step: step, rank: rank, ranks: ranks) }
        let batch = phases.run(.forward, step: number) { workload.forward(step: step) }
        phases.run(.backward, step: number) { workload.backward(step: step) }
        var totals = BatchTotals(lossSum: batch.lossSum, correct: batch.correct, samples: batch.samples)
        totals.stopRequests = stopRequest.pending(step) == nil ? 0 : 1
        return try sharded.step(step, batch: totals, phases: phases)
    }

    /// What follows step `completed` on its cadence: evaluation, the distributed checks, factor
    /// health, the metrics line and a checkpoint (also when `forceCheckpoint`). Returns what the
    /// checkpoint save did on rank 0.
    @discardableResult
    private func finishStep(
        _ completed: Int, monitor: RunMonitor, phases: PhaseRunner, checkpoints: CheckpointWriter?, forceCheckpoint: Bool = false
    ) throws(TrainError) -> CheckpointOutcome? {
        var evaluation: (loss: Double, accuracy: Double)?
        if monitor.evaluationIsDue(after: completed) {
            try settle(after: completed, phases: phases)
            let result = try phases.run(.evaluation, step: completed) { () throws(TrainError) in
                try workload.evaluate(step: completed - 1, communicator: communicator) { phases.beat(.evaluation, step: completed) }
            }
            monitor.recordEvaluation(result, after: completed, stepTimes: phases.times)
            evaluation = result
        }
        if communicator.size > 1 {
            if sharded.checksAreDue(after: completed) || phases.perturbsReplica(after: completed) { try settle(after: completed, phases: phases) }
            try phases.run(.checks, step: completed) { () throws(TrainError) in try sharded.checkAfterStep(completed) }
        }
        let times = phases.takeTimes()
        let health = monitor.healthIsDue(after: completed)
            ? try phases.run(.factorHealth, step: completed) { () throws(TrainError) in
                try RunMonitor.gatherHealth(sharded.ownedFactorHealth(), communicator: communicator)
            }
            : nil
        try monitor.endStep(
            completed, times: times, learningRate: sharded.optimizer.learningRate(at: completed - 1), evaluation: evaluation, health: health)
        guard let checkpoints,
              try checkpoints.isDue(step: completed, isLast: completed == totalSteps, communicator: communicator) || forceCheckpoint
        else { return nil }
        try settle(after: completed, phases: phases)
        let lossProblem = monitor.judgeCheckpoint()
        let progress = monitor.checkpointProgress(after: completed)
        let outcome = try phases.run(.checkpoint, step: completed) { () throws(TrainError) in
            try checkpoints.save(trainer: self, progress: progress, lossProblem: lossProblem)
        }
        monitor.recordCheckpoint(seconds: phases.takeTimes().checkpoint)
        if let outcome, outcome.health.best, let loss = outcome.health.recentLoss { monitor.recordBestCheckpoint(step: completed, loss: loss) }
        return outcome
    }

    /// Waits for the parameter transfers an overlapped step left in flight, as communication time.
    private func settle(after completed: Int, phases: PhaseRunner) throws(TrainError) {
        guard sharded.hasPendingTransfers else { return }
        try phases.run(.parameterExchange, step: completed) { () throws(TrainError) in try sharded.settle() }
    }

    /// Mean loss and accuracy on the evaluation data (all ranks take part).
    package func evaluate(step: Int) throws(TrainError) -> (loss: Double, accuracy: Double) {
        try sharded.settle()
        return try workload.evaluate(step: step, communicator: communicator, afterBatch: {})
    }

    /// The stall watchdog when there is more than one rank and a timeout: a stall prints one line
    /// naming the rank, the phase and the step, and ends this process (and so the job).
    private func startWatchdog(step: Int) -> StallWatchdog? {
        let timeout = config.distributed.stallTimeoutSeconds
        guard communicator.size > 1, timeout > 0 else { return nil }
        let rank = communicator.rank
        return StallWatchdog(timeoutSeconds: timeout, step: step, phase: "start of training at") { idle, step, phase in
            StallWatchdog.endProcess(String(
                format: "rank %d: no progress for %.0f s, stuck in the %@ step %d; ending the job (distributed.stallTimeoutSeconds is %g)",
                rank, idle, phase, step, timeout))
        }
    }
}
