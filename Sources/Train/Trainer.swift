import Cluster
import Datasets
import Foundation
import Linalg
import NN
import Optim
import Spectral
import Support

/// The step loop: draw this rank's slice of the global batch, forward and backward, reduce the
/// gradients, let the optimizer update the parameters, and on rank 0 log and report.
///
/// On several ranks every rank holds a full replica of the parameters, and each `ParameterShard`
/// (a tensor, or a block of a large matrix, with its optimizer state: curvature factors, moments)
/// has exactly one owner, planned by `OwnershipPlan` from the `CostModel`. A step reduces each
/// shard's gradient onto its owner (the loss gradient is scaled by 1 / global batch, so the sum
/// is the global mean). Owners update their shards, and `allgatherv` sends the new values to
/// every rank, so the replicas stay bit-identical.
public final class Trainer {
    public let config: TrainConfig
    public let communicator: any Communicator
    public let model: Sequential<Float>
    public let optimizer: Optimizer
    public let stepsPerEpoch: Int
    public let totalSteps: Int
    /// The units of ownership and optimizer state.
    public let shards: [ParameterShard]
    /// Who owns which shard.
    public private(set) var plan: OwnershipPlan

    private let trainingSet: ImageDataset
    private let testSet: ImageDataset
    private let mean: Float
    private let std: Float
    private let loss = SoftmaxCrossEntropy<Float>()
    private var sampler: GlobalSampler
    private let report: (String) -> Void
    private let classes: Int

    private var exchange: GradientExchange?
    /// Test hook: `SPECTRAIN_PERTURB_REPLICA=rank:step:tensor` changes one parameter on one rank
    /// after that step, to show that the replica check catches a divergence.
    private let replicaFault: (rank: Int, step: Int, tensor: Int)?
    /// Test hook: `SPECTRAIN_STALL=rank:step` makes one rank hang (alive, outside MPI) in that
    /// step, to show that the stall watchdog ends the job.
    private let stallFault: (rank: Int, step: Int)?
    /// Watches the loop on more than one rank (`distributed.stallTimeoutSeconds`).
    private var watchdog: StallWatchdog?
    /// Seconds spent updating each owned shard since the timing window opened (for re-planning).
    private var shardSeconds: [Double]
    /// Contiguous copies of a block shard's parameters and gradient for the optimizer.
    private var shardParameters: [Float]
    private var shardGradient: [Float]
    private var features: [Float]
    private var labels: [Int32]
    private var indices: [Int] = []
    private var logitGradient: [Float]

    /// Loads the data, builds and initialises the model and the optimizer. `report` receives the
    /// human-readable lines (call it on rank 0 only to keep ranks' output apart).
    public init(config: TrainConfig, communicator: any Communicator, report: @escaping (String) -> Void) throws(TrainError) {
        self.config = config
        self.communicator = communicator
        self.report = report
        let loaded: (training: ImageDataset, test: ImageDataset)
        do {
            loaded = try config.data.load()
        } catch {
            throw TrainError("\(error)")
        }
        trainingSet = loaded.training
        testSet = loaded.test
        let statistics = config.data.normalization(training: trainingSet)
        mean = Float(statistics.mean)
        std = Float(statistics.std)
        classes = max(trainingSet.classes, testSet.classes)
        guard testSet.sampleShape == trainingSet.sampleShape else {
            throw TrainError("data: test images are \(testSet.sampleShape), training images \(trainingSet.sampleShape)")
        }

        let loop = config.training
        let ranks = communicator.size
        guard loop.batchSize >= ranks else {
            throw TrainError("training.batchSize \(loop.batchSize) is smaller than the \(ranks) ranks: every rank needs a sample")
        }
        stepsPerEpoch = trainingSet.count / loop.batchSize
        guard stepsPerEpoch >= 1 else {
            throw TrainError("training.batchSize \(loop.batchSize) exceeds the \(trainingSet.count) training samples")
        }
        totalSteps = min(loop.maxSteps ?? Int.max, loop.epochs * stepsPerEpoch)
        let localTraining = GlobalSampler.localSlice(globalBatch: loop.batchSize, rank: 0, ranks: ranks).count
        let localEvaluation = GlobalSampler.localSlice(globalBatch: loop.evalBatchSize, rank: 0, ranks: ranks).count
        let maxBatch = max(localTraining, localEvaluation)
        do {
            model = try Sequential<Float>.build(inputShape: trainingSet.sampleShape, specs: config.model.layers, maxBatch: maxBatch)
        } catch {
            throw TrainError("model: \(error)")
        }
        guard model.outputCount == classes, model.outputShape.count == 1 else {
            throw TrainError("model: the last layer gives \(model.outputShape) per sample, the data has \(classes) classes")
        }
        model.initialize(seed: config.seed)
        let tensorCount = model.parameters.specs.count
        shards = ParameterShard.shards(of: model.parameters.specs, optimizer: config.optimizer)
        do {
            optimizer = try Optimizer(config: config.optimizer, shards: shards.map(\.info), totalSteps: totalSteps, globalBatch: loop.batchSize)
        } catch {
            throw TrainError("\(error)")
        }
        plan = OwnershipReport.plan(shards: shards, optimizer: config.optimizer, ranks: ranks)
        shardSeconds = [Double](repeating: 0, count: shards.count)
        let largestBlock = shards.filter { !$0.isWholeTensor }.map(\.count).max() ?? 0
        shardParameters = [Float](repeating: 0, count: largestBlock)
        shardGradient = [Float](repeating: 0, count: largestBlock)
        replicaFault = try Self.testHook("SPECTRAIN_PERTURB_REPLICA", "rank:step:tensor") { $0[2] >= 0 && $0[2] < tensorCount }
            .map { ($0[0], $0[1], $0[2]) }
        stallFault = try Self.testHook("SPECTRAIN_STALL", "rank:step").map { ($0[0], $0[1]) }
        if ranks > 1 {
            exchange = try GradientExchange(
                shards: shards, owners: plan.owners, rank: communicator.rank, ranks: ranks,
                bucketBytes: Int(config.distributed.bucketMegabytes * 1_048_576), mode: config.distributed.reduction)
        }
        sampler = GlobalSampler(datasetCount: trainingSet.count, seed: config.seed &+ 0x5A4D_504C_4552)
        features = [Float](repeating: 0, count: maxBatch * model.inputCount)
        labels = [Int32](repeating: 0, count: maxBatch)
        logitGradient = [Float](repeating: 0, count: maxBatch * classes)
        indices.reserveCapacity(maxBatch)
    }

    /// The integers of a test hook's environment variable `name`, given as `fields` separated by
    /// colons (e.g. "rank:step"); nil when it is not set, an error when it does not parse or
    /// `isValid` rejects it.
    static func testHook(_ name: String, _ fields: String, isValid: ([Int]) -> Bool = { _ in true }) throws(TrainError) -> [Int]? {
        guard let text = ProcessInfo.processInfo.environment[name] else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        let count = fields.split(separator: ":").count
        guard parts.count == count, parts.allSatisfy({ $0 != nil }), isValid(parts.map { $0! }) else {
            throw TrainError("\(name): '\(text)' is not \(fields)")
        }
        return parts.map { $0! }
    }

    /// Samples in the test split.
    public var testSampleCount: Int { testSet.count }

    /// The ownership plan as a table (see `OwnershipReport`).
    public var planDescription: String {
        OwnershipReport.describe(shards: shards, plan: plan, optimizer: config.optimizer)
    }

    /// A short description of the run for the start of the log.
    public var header: String {
        let parameters = model.parameters.count
        return """
            run \(config.name): \(trainingSet.count) training / \(testSet.count) test samples \(trainingSet.sampleShape), \
            \(classes) classes; \(parameters) parameters; optimizer \(config.optimizer.type.rawValue); \
            \(totalSteps) steps of \(config.training.batchSize) (\(stepsPerEpoch) per epoch) on \(communicator.size) rank\(communicator.size == 1 ? "" : "s")
            """
    }

    // MARK: - The loop

    /// Where a run stands between steps: everything besides parameters and optimizer state that a
    /// resumed run needs to continue as if it had not stopped.
    public struct Progress: Codable, Sendable, Equatable {
        /// Steps completed.
        public var step = 0
        public var skippedSteps = 0
        public var consecutiveNonFinite = 0
        public var lastTestLoss: Double?
        public var lastTestAccuracy: Double?
        public var bestTestAccuracy = -1.0
        public var bestStep = 0
        public var targetReachedStep: Int?
        public var targetReachedEpoch: Double?
        public var targetReachedTrainingSeconds: Double?
        /// Seconds of earlier sessions of this run (a resumed run adds its own).
        public var elapsedSeconds = 0.0
        public var time = StepTimes()
        /// The logging window open at `step` (sums since the last metrics line).
        public var windowLossSum = 0.0
        public var windowCorrect = 0
        public var windowSamples = 0
        /// Lines in metrics.jsonl at `step`.
        public var metricsLines = 0

        public init() {}
    }

    /// Trains from `progress.step` to `totalSteps`, writing `metrics.jsonl` (rank 0), saving
    /// checkpoints on the configured cadence through `checkpoints`, and returning the summary.
    public func run(metrics: MetricsWriter?, from start: Progress = Progress(), checkpoints: CheckpointCadence? = nil) throws(TrainError) -> TrainSummary {
        let loop = config.training
        let clock = ContinuousClock()
        let sessionStart = clock.now
        var progress = start
        var window = Window(lossSum: progress.windowLossSum, correct: progress.windowCorrect, samples: progress.windowSamples)
        func elapsed() -> Double { progress.elapsedSeconds + sessionStart.duration(to: clock.now).inSeconds }
        startWatchdog(step: progress.step)
        defer {
            watchdog?.stop()
            watchdog = nil
        }

        for step in progress.step..<totalSteps {
            var times = StepTimes()
            let outcome = try trainStep(step, times: &times)
            if outcome.finite {
                progress.consecutiveNonFinite = 0
            } else {
                progress.skippedSteps += 1
                progress.consecutiveNonFinite += 1
                if progress.consecutiveNonFinite >= loop.maxNonFiniteSteps {
                    throw TrainError("training diverged: \(progress.consecutiveNonFinite) consecutive steps with a non-finite loss or gradient (step \(step + 1))")
                }
            }
            window.add(loss: outcome.lossSum, correct: outcome.correct, samples: outcome.samples)
            let completed = step + 1
            let endOfEpoch = completed % stepsPerEpoch == 0
            let isLast = completed == totalSteps
            var evaluation: (loss: Double, accuracy: Double)?
            if isLast || endOfEpoch || (loop.evalEvery > 0 && completed % loop.evalEvery == 0) {
                let evaluationStart = clock.now
                let result = try evaluate(step: step)
                evaluation = result
                times.evaluation += evaluationStart.duration(to: clock.now).inSeconds
                (progress.lastTestLoss, progress.lastTestAccuracy) = (result.loss, result.accuracy)
                if result.accuracy > progress.bestTestAccuracy { (progress.bestTestAccuracy, progress.bestStep) = (result.accuracy, completed) }
                if let goal = loop.targetAccuracy, progress.targetReachedStep == nil, result.accuracy >= goal {
                    progress.targetReachedStep = completed
                    progress.targetReachedEpoch = Double(completed) / Double(stepsPerEpoch)
                    progress.targetReachedTrainingSeconds = elapsed() - (progress.time + times).evaluation
                }
            }
            if communicator.size > 1 {
                watchdog?.beat(step: completed, phase: "checks after")
                let distributed = config.distributed
                let checkStart = clock.now
                if let fault = replicaFault, fault.rank == communicator.rank, fault.step == completed {
                    model.parameters.values(at: fault.tensor)[0] += 1
                }
                if distributed.replicaCheckEvery > 0 && completed % distributed.replicaCheckEvery == 0 {
                    try checkReplicas(step: completed)
                }
                if distributed.replan {
                    if completed == 2 { shardSeconds = [Double](repeating: 0, count: shardSeconds.count) }
                    if completed == distributed.replanAfterSteps { try replan(step: completed) }
                }
                times.communication += checkStart.duration(to: clock.now).inSeconds
            }
            progress.time = progress.time + times
            window.times = window.times + times
            let health = loop.healthEvery > 0 && completed % loop.healthEvery == 0 ? try measureHealth() : nil
            if completed % loop.logEvery == 0 || isLast || evaluation != nil {
                let now = elapsed()
                let record = MetricsRecord(
                    step: completed, epoch: Double(completed) / Double(stepsPerEpoch),
                    loss: window.meanLoss, accuracy: window.accuracy, learningRate: optimizer.learningRate(at: step),
                    samplesPerSecond: Double(window.samples) / max(window.times.total - window.times.evaluation - window.times.checkpoint, 1e-9),
                    elapsedSeconds: now, time: window.times,
                    testLoss: evaluation?.loss, testAccuracy: evaluation?.accuracy, skippedSteps: progress.skippedSteps, health: health)
                try metrics?.write(record)
                progress.metricsLines += 1
                report(progressLine(record, elapsed: now, startStep: start.step, sessionSeconds: sessionStart.duration(to: clock.now).inSeconds))
                if let evaluation {
                    report(String(format: "  test: loss %.4f  accuracy %.2f%%  (step %d, epoch %.2f)",
                                  evaluation.loss, 100 * evaluation.accuracy, completed, record.epoch))
                }
                window = Window()
            }
            if let checkpoints, try checkpoints.isDue(step: completed, isLast: isLast, communicator: communicator) {
                watchdog?.beat(step: completed, phase: "checkpoint save after")
                let saveStart = clock.now
                progress.step = completed
                (progress.windowLossSum, progress.windowCorrect, progress.windowSamples) = (window.lossSum, window.correct, window.samples)
                var saved = progress
                saved.elapsedSeconds = elapsed()
                try checkpoints.save(trainer: self, progress: saved)
                let spent = saveStart.duration(to: clock.now).inSeconds
                progress.time.checkpoint += spent
                window.times.checkpoint += spent
            }
        }
        try checkpoints?.finish()
        let seconds = elapsed()
        let trainingSeconds = seconds - progress.time.evaluation - progress.time.checkpoint
        let trainedSteps = totalSteps
        return TrainSummary(
            steps: trainedSteps, epochs: Double(trainedSteps) / Double(stepsPerEpoch), seconds: seconds,
            trainingSeconds: trainingSeconds,
            samplesPerSecond: Double(trainedSteps * loop.batchSize) / max(trainingSeconds, 1e-9),
            finalTestLoss: progress.lastTestLoss ?? .nan, finalTestAccuracy: progress.lastTestAccuracy ?? .nan,
            bestTestAccuracy: progress.bestTestAccuracy, bestStep: progress.bestStep, targetAccuracy: loop.targetAccuracy,
            targetReachedStep: progress.targetReachedStep, targetReachedEpoch: progress.targetReachedEpoch,
            targetReachedTrainingSeconds: progress.targetReachedTrainingSeconds, skippedSteps: progress.skippedSteps, time: progress.time)
    }

    struct StepOutcome {
        var lossSum: Double
        var correct: Int
        var samples: Int
        var finite: Bool
    }

    /// One optimisation step on this rank's slice of global batch `step`.
    private func trainStep(_ step: Int, times: inout StepTimes) throws(TrainError) -> StepOutcome {
        let loop = config.training
        let clock = ContinuousClock()
        var mark = clock.now
        func lap(_ phase: inout Double) {
            let now = clock.now
            phase += mark.duration(to: now).inSeconds
            mark = now
        }
        let (rank, ranks) = (communicator.rank, communicator.size)
        watchdog?.beat(step: step + 1, phase: "forward and backward of")
        if let fault = stallFault, fault.rank == rank, fault.step == step + 1 {
            while true { Thread.sleep(forTimeInterval: 3600) }
        }
        sampler.fillIndices(step: step, globalBatch: loop.batchSize, rank: rank, ranks: ranks, into: &indices)
        let batch = indices.count
        trainingSet.fill(indices: indices, features: &features, labels: &labels, mean: mean, std: std)
        lap(&times.data)

        let context = ForwardContext(training: true, seed: config.seed, step: step, sampleIndices: indices)
        model.parameters.zeroGradients()
        var lossSum = 0.0
        var correct = 0
        features.withUnsafeBufferPointer { input in
            labels.withUnsafeBufferPointer { labels in
                let logits = model.forward(input: UnsafeBufferPointer(rebasing: input[..<(batch * model.inputCount)]), batch: batch, context: context)
                let result = loss.forward(logits: logits, labels: UnsafeBufferPointer(rebasing: labels[..<batch]), batch: batch, classes: classes)
                lossSum = result.lossSum
                correct = result.correct
                lap(&times.forward)
                logitGradient.withUnsafeMutableBufferPointer { gradient in
                    loss.backward(
                        logits: logits, labels: UnsafeBufferPointer(rebasing: labels[..<batch]), batch: batch, classes: classes,
                        scale: 1 / Float(loop.batchSize), into: gradient)
                    model.backward(
                        input: UnsafeBufferPointer(rebasing: input[..<(batch * model.inputCount)]),
                        outputGradient: UnsafeBufferPointer(rebasing: gradient[..<(batch * classes)]), batch: batch, context: context)
                }
            }
        }
        lap(&times.backward)

        let gradients = model.parameters.gradients
        let squaredNorm = BLAS.dot(UnsafeBufferPointer(gradients), UnsafeBufferPointer(gradients))
        var totals = [lossSum, Double(correct), Double(batch), lossSum.isFinite && squaredNorm.isFinite ? 0 : 1]
        watchdog?.beat(step: step + 1, phase: "gradient exchange of")
        do {
            if let exchange {
                try exchange.reduceGradients(model.parameters, communicator: communicator)
                try communicator.allreduce(&totals, operation: .sum)
            }
        } catch {
            throw TrainError("\(error)")
        }
        lap(&times.communication)
        let finite = totals[3] == 0
        if finite {
            watchdog?.beat(step: step + 1, phase: "optimizer update of")
            for index in shards.indices where plan.owners[index] == rank {
                let start = clock.now
                do {
                    try updateShard(index, step: step)
                } catch {
                    throw TrainError("step \(step + 1): \(error)")
                }
                shardSeconds[index] += start.duration(to: clock.now).inSeconds
            }
            let spent = optimizer.takeTimings()
            times.curvature += spent.curvatureSeconds
            times.precondition += spent.preconditionSeconds
            times.optimizer += spent.otherSeconds
            mark = clock.now
            watchdog?.beat(step: step + 1, phase: "parameter exchange of")
            do {
                try exchange?.gatherParameters(model.parameters, communicator: communicator)
            } catch {
                throw TrainError("\(error)")
            }
            lap(&times.communication)
        }
        return StepOutcome(lossSum: totals[0], correct: Int(totals[1]), samples: Int(totals[2]), finite: finite)
    }

    /// The optimizer step of one shard: in place for a whole tensor, through contiguous copies for a block.
    private func updateShard(_ index: Int, step: Int) throws(OptimizerError) {
        let shard = shards[index]
        let store = model.parameters
        if shard.isWholeTensor {
            try optimizer.update(
                shard: index, parameters: store.values(at: shard.tensor),
                gradient: UnsafeBufferPointer(store.gradients(at: shard.tensor)), step: step)
            return
        }
        let count = shard.count
        try shardParameters.withUnsafeMutableBufferPointer { (parameters) throws(OptimizerError) in
            try shardGradient.withUnsafeMutableBufferPointer { (gradient) throws(OptimizerError) in
                shard.gather(from: store.values, into: parameters.baseAddress!)
                shard.gather(from: store.gradients, into: gradient.baseAddress!)
                try optimizer.update(
                    shard: index, parameters: UnsafeMutableBufferPointer(rebasing: parameters[..<count]),
                    gradient: UnsafeBufferPointer(rebasing: gradient[..<count]), step: step)
                shard.scatter(from: parameters.baseAddress!, into: store.values)
            }
        }
    }

    /// Compares a checksum of every parameter tensor across ranks; a difference is an error naming
    /// the first tensor that differs (replicas must stay bit-identical).
    public func checkReplicas(step: Int) throws(TrainError) {
        let specs = model.parameters.specs
        let fingerprints = specs.indices.map { index in
            ReplicaCheck.fingerprint(model.parameters.values(at: index).lazy.map { UInt64($0.bitPattern) })
        }
        let first: Int?
        do {
            first = try communicator.firstDisagreement(fingerprints)
        } catch {
            throw TrainError("\(error)")
        }
        if let first {
            throw TrainError("replicas diverged: at step \(step) parameter tensor \(specs[first].name) differs between ranks")
        }
    }

    /// Re-plans ownership from the optimizer times measured since step 2 and moves the optimizer
    /// state of every tensor that changes owner (a broadcast from the old owner per state tensor).
    func replan(step: Int) throws(TrainError) {
        var measured = shardSeconds
        do {
            try communicator.allreduce(&measured, operation: .sum)
            let newPlan = OwnershipPlan.longestProcessingTime(costs: measured, ranks: communicator.size)
            for shard in plan.owners.indices where newPlan.owners[shard] != plan.owners[shard] {
                let (old, new) = (plan.owners[shard], newPlan.owners[shard])
                var state = optimizer.stateTensors(shard: shard)
                for index in state.indices {
                    switch state[index].storage {
                    case .float32(var values):
                        try communicator.broadcast(&values, root: old)
                        state[index].storage = .float32(values)
                    case .int64(var values):
                        try communicator.broadcast(&values, root: old)
                        state[index].storage = .int64(values)
                    }
                }
                if communicator.rank == new {
                    try optimizer.restore(shard: shard, from: state)
                } else {
                    optimizer.releaseState(shard: shard)
                }
            }
            plan = newPlan
            exchange = try GradientExchange(
                shards: shards, owners: plan.owners, rank: communicator.rank, ranks: communicator.size,
                bucketBytes: Int(config.distributed.bucketMegabytes * 1_048_576), mode: config.distributed.reduction)
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("re-planning at step \(step): \(error)")
        }
        report("re-planned ownership at step \(step) from measured optimizer times:\n\(planDescription)")
    }

    /// Mean loss and accuracy on the whole test split (all ranks take part).
    public func evaluate(step: Int) throws(TrainError) -> (loss: Double, accuracy: Double) {
        let batches = EvaluationBatches(sampleCount: testSet.count, batchSize: config.training.evalBatchSize)
        var lossSum = 0.0
        var correct = 0
        for batchIndex in 0..<batches.count {
            watchdog?.beat(step: step + 1, phase: "evaluation after")
            batches.fillIndices(batch: batchIndex, rank: communicator.rank, ranks: communicator.size, into: &indices)
            let batch = indices.count
            if batch == 0 { continue }
            testSet.fill(indices: indices, features: &features, labels: &labels, mean: mean, std: std)
            features.withUnsafeBufferPointer { input in
                labels.withUnsafeBufferPointer { labels in
                    let logits = model.forward(
                        input: UnsafeBufferPointer(rebasing: input[..<(batch * model.inputCount)]), batch: batch,
                        context: ForwardContext(training: false, seed: config.seed, step: step, sampleIndices: indices))
                    let result = loss.forward(logits: logits, labels: UnsafeBufferPointer(rebasing: labels[..<batch]), batch: batch, classes: classes)
                    lossSum += result.lossSum
                    correct += result.correct
                }
            }
        }
        var totals = [lossSum, Double(correct)]
        do {
            try communicator.allreduce(&totals, operation: .sum)
        } catch {
            throw TrainError("\(error)")
        }
        return (totals[0] / Double(testSet.count), totals[1] / Double(testSet.count))
    }

    /// Starts the stall watchdog when there is more than one rank and a timeout; a stall prints
    /// one line naming the rank, the phase and the step, and ends this process (and so the job).
    private func startWatchdog(step: Int) {
        let timeout = config.distributed.stallTimeoutSeconds
        guard communicator.size > 1, timeout > 0 else { return }
        let rank = communicator.rank
        watchdog = StallWatchdog(timeoutSeconds: timeout, step: step, phase: "start of training at") { idle, step, phase in
            StallWatchdog.endProcess(String(
                format: "rank %d: no progress for %.0f s, stuck in the %@ step %d; ending the job (distributed.stallTimeoutSeconds is %g)",
                rank, idle, phase, step, timeout))
        }
    }

    /// Measured health of every spectral factor of the model, keyed "tensor/blockN.L", on rank 0
    /// (nil on the others): each rank measures the factors it owns and rank 0 gathers them.
    private func measureHealth() throws(TrainError) -> [String: FactorHealthRecord]? {
        var records: [String: FactorHealthRecord] = [:]
        for (index, shard) in shards.enumerated() {
            for (name, health) in optimizer.health(shard: index) {
                records["\(shard.name)/\(name)"] = FactorHealthRecord(
                    orthogonalityError: health.orthogonalityError, minEigenvalue: health.minEigenvalue,
                    maxEigenvalue: health.maxEigenvalue, conditionNumber: health.conditionNumber, failures: health.failures)
            }
        }
        guard communicator.size > 1 else { return records }
        do {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = NonFiniteJSON.encoding
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = NonFiniteJSON.decoding
            let encoded = String(decoding: try encoder.encode(records), as: UTF8.self)
            guard let gathered = try communicator.gather(encoded, root: 0) else { return nil }
            var merged: [String: FactorHealthRecord] = [:]
            for text in gathered {
                let owned = try decoder.decode([String: FactorHealthRecord].self, from: Foundation.Data(text.utf8))
                merged.merge(owned) { first, _ in first }
            }
            return merged
        } catch {
            throw TrainError("factor health: \(error)")
        }
    }

    private func progressLine(_ record: MetricsRecord, elapsed: Double, startStep: Int, sessionSeconds: Double) -> String {
        let remaining = Double(totalSteps - record.step) * sessionSeconds / Double(max(record.step - startStep, 1))
        return String(
            format: "step %d/%d  epoch %.2f  loss %.4f  acc %.2f%%  lr %.2e  %.0f samples/s  ETA %@",
            record.step, totalSteps, record.epoch, record.loss, 100 * record.accuracy, record.learningRate,
            record.samplesPerSecond, formatDuration(remaining))
    }

    /// Sums over the steps since the last logged line.
    struct Window {
        var lossSum = 0.0
        var correct = 0
        var samples = 0
        var times = StepTimes()

        mutating func add(loss: Double, correct: Int, samples: Int) {
            lossSum += loss
            self.correct += correct
            self.samples += samples
        }

        var meanLoss: Double { samples > 0 ? lossSum / Double(samples) : .nan }
        var accuracy: Double { samples > 0 ? Double(correct) / Double(samples) : .nan }
    }
}

/// "1:02:03" or "4:05".
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    let (hours, minutes, rest) = (total / 3600, (total / 60) % 60, total % 60)
    return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
}
