import Cluster
import Foundation
import Linalg
import NN
import Optim

/// The sharded data-parallel update, as Distributed Shampoo's distributor does it: every rank
/// holds a full replica of the parameters, and each `ParameterShard` (a tensor, or a block of a
/// large matrix, with its optimizer state: curvature factors, moments) has exactly one owner.
///
/// One `step` is: reduce each shard's gradient onto its owner, let each owner update its shards
/// (the curvature update needs no communication: the owner holds the reduced gradient), and
/// gather the updated values to every rank, so the replicas stay bit-identical. This type owns
/// the shards, the ownership plan, the gradient exchange, the block scratch buffers, the
/// per-shard update times, the one-off re-planning and the replica check.
package final class ShardedUpdate: LayerBoundaryObserver {
    /// The units of ownership and optimizer state.
    package let shards: [ParameterShard]
    /// Who owns which shard.
    package private(set) var plan: OwnershipPlan
    package let optimizer: Optimizer
    let communicator: any Communicator
    let parameters: ParameterStore<Float>
    private let settings: DistributedConfig
    private let optimizerSettings: OptimizerConfig
    private let globalBatch: Int
    private let report: (String) -> Void
    /// Nil on one rank, where the gradients are already the global ones.
    private var exchange: GradientExchange?
    /// Whether transfers overlap computation: reductions start from backward, gathers are waited
    /// for in the next forward (`distributed.overlap`, `OverlapSetting`).
    package let overlapsCommunication: Bool
    /// What an `auto` overlap setting became and why, for the log (nil otherwise).
    package let overlapChoice: String?
    /// The model layer of each parameter tensor, for the overlap's layer hooks.
    private let tensorLayers: [Int]
    /// A failure inside a layer hook (which cannot throw), thrown at the next step boundary.
    private var hookFailure: TrainError?
    /// Seconds spent updating each owned shard since the timing window opened (for re-planning).
    private(set) var shardSeconds: [Double]
    /// Contiguous copies of a block shard's parameters and gradient for the optimizer (blocks
    /// that are not whole rows).
    private var blockParameters: [Float]
    private var blockGradient: [Float]
    /// The factors `dY^T X` of a tensor's gradient where the model keeps them (one rank only:
    /// on several, each rank's factors are a slice of the reduced gradient's).
    private let factoredGradient: (_ tensor: Int) -> FactoredGradient<Float>?
    /// The batch totals as the allreduce sends them (kept: no allocation per step).
    private var totalsBuffer = [Double](repeating: 0, count: BatchTotals.count)

    /// Shards `parameters` as `config.optimizer` preconditions them and plans their owners over
    /// `communicator`'s ranks. `report` receives the re-planning note; `factoredGradient` gives a
    /// tensor's gradient factors where the model keeps them (read on one rank only).
    /// `tensorLayers` gives each tensor's model layer (`Sequential.tensorLayers`), for the overlap.
    init(
        parameters: ParameterStore<Float>, config: TrainConfig, totalSteps: Int, communicator: any Communicator,
        tensorLayers: [Int],
        factoredGradient: @escaping (_ tensor: Int) -> FactoredGradient<Float>? = { _ in nil },
        report: @escaping (String) -> Void
    ) throws(TrainError) {
        self.parameters = parameters
        self.factoredGradient = factoredGradient
        self.communicator = communicator
        self.settings = config.distributed
        // An "auto" limit a run has not resolved yet (a benchmark's) is chosen for these ranks here.
        let optimizerSettings = AutoBlocking.resolved(config.optimizer, shapes: parameters.specs.map(\.shape), ranks: communicator.size).optimizer
        self.optimizerSettings = optimizerSettings
        self.globalBatch = config.training.batchSize
        self.report = report
        self.tensorLayers = tensorLayers
        shards = ParameterShard.shards(of: parameters.specs, optimizer: optimizerSettings, ranks: communicator.size)
        let buckets = GradientExchange.bucketGroups(shards: shards, tensorLayers: tensorLayers, bucketBytes: config.distributed.bucketBytes)
        let hidable = GradientExchange.hidableBuckets(buckets, shards: shards, tensorLayers: tensorLayers)
        overlapsCommunication = config.distributed.overlap.isOn(ranks: communicator.size, hidable: hidable)
        overlapChoice = config.distributed.overlap.choice(ranks: communicator.size, hidable: hidable, buckets: buckets.count)
        if overlapsCommunication, let mpi = communicator as? MPICommunicator {
            mpi.progressInterval = .microseconds(config.distributed.progressMicroseconds)
        }
        optimizer = try Self.optimizer(optimizerSettings, shards: shards, totalSteps: totalSteps, globalBatch: globalBatch)
        plan = OwnershipReport.plan(shards: shards, optimizer: optimizerSettings, ranks: communicator.size)
        shardSeconds = [Double](repeating: 0, count: shards.count)
        let largestBlock = shards.filter { !$0.isContiguous }.map(\.count).max() ?? 0
        blockParameters = [Float](repeating: 0, count: largestBlock)
        blockGradient = [Float](repeating: 0, count: largestBlock)
        if communicator.size > 1 { exchange = try makeExchange() }
    }

    /// An optimizer for `shards` (its state is created per shard on first use).
    private static func optimizer(_ settings: OptimizerConfig, shards: [ParameterShard], totalSteps: Int, globalBatch: Int) throws(TrainError) -> Optimizer {
        do {
            return try Optimizer(config: settings, shards: shards.map(\.info), totalSteps: totalSteps, globalBatch: globalBatch)
        } catch {
            throw TrainError("\(error)")
        }
    }

    /// A second optimizer like this one's, with no state yet: the reference for what state a
    /// shard has.
    func freshOptimizer() throws(TrainError) -> Optimizer {
        try Self.optimizer(optimizerSettings, shards: shards, totalSteps: optimizer.totalSteps, globalBatch: globalBatch)
    }

    /// The ownership plan as a table (see `OwnershipReport`).
    package var planDescription: String {
        OwnershipReport.describe(shards: shards, plan: plan, optimizer: optimizerSettings)
    }

    // MARK: - The step

    /// One optimisation step from the gradients of this rank's slice of the batch: returns the
    /// batch's loss sum, correct count and samples summed over ranks. A step whose loss or
    /// gradient is not finite on any rank changes nothing, on every rank.
    ///
    /// With overlap, the reductions were started from backward and the gathers are left in
    /// flight for the next forward (or `settle()`).
    func step(_ step: Int, batch: BatchTotals, phases: PhaseRunner) throws(TrainError) -> BatchTotals {
        if let hookFailure { throw hookFailure }
        defer { if let exchange { phases.record(exchange.takeTiming(), overlapped: overlapsCommunication) } }
        let totals = try phases.run(.gradientExchange, step: step + 1) { () throws(TrainError) in try reduceGradients(batch) }
        guard totals.isFinite else {
            try exchanging { () throws in try exchange?.finishStartedReductions() }
            return totals
        }
        try phases.run(.optimizerUpdate, step: step + 1) { () throws(TrainError) in try updateOwnedShards(step: step) }
        phases.record(optimizer.takeTimings())
        if !overlapsCommunication {
            try phases.run(.parameterExchange, step: step + 1) { () throws(TrainError) in try exchanging { () throws in try exchange?.gatherParameters() } }
        }
        return totals
    }

    /// Waits for every parameter transfer still in flight: call before anything but the next
    /// forward reads the parameters (evaluation, checks, checkpoints, the end of the run).
    package func settle() throws(TrainError) {
        if let hookFailure { throw hookFailure }
        try exchanging { () throws in try exchange?.settle() }
    }

    /// Whether parameter transfers are still in flight.
    var hasPendingTransfers: Bool { exchange?.hasPendingGathers ?? false }

    package func willRunForward(layer: Int) {
        atLayerBoundary { exchange throws in try exchange.finishGathers(through: layer, phase: \.forward) }
    }

    package func didFinishBackward(layer: Int) {
        atLayerBoundary { exchange throws in try exchange.startReductions(readyFrom: layer, phase: \.backward) }
    }

    /// Runs a layer hook's exchange call when overlapping; a hook cannot throw, so a failure is
    /// kept for the next step boundary and later hooks do nothing.
    private func atLayerBoundary(_ body: (GradientExchange) throws -> Void) {
        guard overlapsCommunication, hookFailure == nil, let exchange else { return }
        do {
            try body(exchange)
        } catch {
            hookFailure = TrainError("\(error)")
        }
    }

    /// Runs an exchange call, its errors as `TrainError`s.
    private func exchanging(_ body: () throws -> Void) throws(TrainError) {
        do {
            try body()
        } catch {
            throw TrainError("\(error)")
        }
    }

    /// Sums each shard's gradient onto its owner and the batch totals onto every rank, flagging a
    /// non-finite loss or gradient on any rank.
    private func reduceGradients(_ batch: BatchTotals) throws(TrainError) -> BatchTotals {
        var totals = batch
        guard let exchange else {
            let gradients = UnsafeBufferPointer(parameters.gradients)
            totals.nonFinite = batch.lossSum.isFinite && BLAS.dot(gradients, gradients).isFinite ? 0 : 1
            return totals
        }
        do {
            if let hookFailure { throw hookFailure }
            if overlapsCommunication {
                try exchange.startReductions(readyFrom: 0, phase: \.communicationPhase)
            } else {
                try exchange.reduceGradients()
            }
            // The exchange checked each bucket's gradients as its reduction started (the store's
            // gradients may be the collectives' by now).
            totals.nonFinite = batch.lossSum.isFinite && exchange.startedGradientsAreFinite ? 0 : 1
            totals.store(into: &totalsBuffer)
            try communicator.allreduce(&totalsBuffer, operation: .sum)
            return BatchTotals(totalsBuffer)
        } catch {
            throw TrainError("\(error)")
        }
    }

    /// The optimizer step of every shard this rank owns, each timed for re-planning: bucket by
    /// bucket in the exchange's update order, with overlap each bucket's reduction waited for
    /// just before and its gather started just after.
    private func updateOwnedShards(step: Int) throws(TrainError) {
        guard let exchange else {
            for index in shards.indices { try updateTimed(index, step: step) }
            return
        }
        for bucket in exchange.updateOrder {
            if overlapsCommunication { try exchanging { () throws in try exchange.finishReduction(bucket, phase: \.update) } }
            for index in exchange.shards(inBucket: bucket) where plan.owners[index] == communicator.rank {
                try updateTimed(index, step: step)
            }
            if overlapsCommunication { try exchanging { () throws in try exchange.startGather(bucket, phase: \.update) } }
        }
    }

    private func updateTimed(_ index: Int, step: Int) throws(TrainError) {
        let start = ContinuousClock.now
        do {
            try updateShard(index, step: step)
        } catch {
            throw TrainError("step \(step + 1): \(error)")
        }
        shardSeconds[index] += start.duration(to: .now).inSeconds
    }

    /// The optimizer step of one shard: in place for whole rows (a tensor, a band, a block of full
    /// rows), through contiguous copies for any other block.
    private func updateShard(_ index: Int, step: Int) throws(OptimizerError) {
        let shard = shards[index]
        if shard.isContiguous {
            let elements = shard.tensorElements
            try optimizer.update(
                shard: index, parameters: UnsafeMutableBufferPointer(rebasing: parameters.values(at: shard.tensor)[elements]),
                gradient: UnsafeBufferPointer(rebasing: parameters.gradients(at: shard.tensor)[elements]),
                factoredGradient: communicator.size == 1 && shard.isWholeTensor ? factoredGradient(shard.tensor) : nil, step: step)
            return
        }
        let count = shard.count
        try blockParameters.withUnsafeMutableBufferPointer { (values) throws(OptimizerError) in
            try blockGradient.withUnsafeMutableBufferPointer { (gradient) throws(OptimizerError) in
                shard.gather(from: parameters.values, into: values.baseAddress!)
                shard.gather(from: parameters.gradients, into: gradient.baseAddress!)
                try optimizer.update(
                    shard: index, parameters: UnsafeMutableBufferPointer(rebasing: values[..<count]),
                    gradient: UnsafeBufferPointer(rebasing: gradient[..<count]), step: step)
                shard.scatter(from: values.baseAddress!, into: parameters.values)
            }
        }
    }

    // MARK: - Between steps

    /// The checks due after step `completed` on several ranks: the replica check every
    /// `replicaCheckEvery` steps and, once, re-planning from measured times.
    func checkAfterStep(_ completed: Int) throws(TrainError) {
        if checksAreDue(after: completed) { try settle() }
        if settings.replicaCheckEvery > 0 && completed % settings.replicaCheckEvery == 0 {
            try checkReplicas(step: completed)
        }
        if settings.replan {
            if completed == 2 { shardSeconds = [Double](repeating: 0, count: shardSeconds.count) }
            if completed == settings.replanAfterSteps { try replan(step: completed) }
        }
    }

    /// Whether `checkAfterStep(completed)` reads the parameters (the replica check or re-planning).
    func checksAreDue(after completed: Int) -> Bool {
        (settings.replicaCheckEvery > 0 && completed % settings.replicaCheckEvery == 0)
            || (settings.replan && completed == settings.replanAfterSteps)
    }

    /// Compares a checksum of every parameter tensor across ranks; a difference is an error naming
    /// the first tensor that differs (replicas must stay bit-identical).
    package func checkReplicas(step: Int) throws(TrainError) {
        let specs = parameters.specs
        let fingerprints = specs.indices.map { index in
            ReplicaCheck.fingerprint(parameters.values(at: index).lazy.map { UInt64($0.bitPattern) })
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

    /// Re-plans ownership from the update times measured since step 2 and moves the optimizer
    /// state of every shard that changes owner (a broadcast from the old owner per state tensor).
    func replan(step: Int) throws(TrainError) {
        var measured = shardSeconds
        do {
            try communicator.allreduce(&measured, operation: .sum)
            let newPlan = OwnershipPlan.longestProcessingTime(costs: measured, ranks: communicator.size)
            for shard in plan.owners.indices where newPlan.owners[shard] != plan.owners[shard] {
                try moveState(of: shard, from: plan.owners[shard], to: newPlan.owners[shard])
            }
            plan = newPlan
            exchange = try makeExchange()
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("re-planning at step \(step): \(error)")
        }
        report("re-planned ownership at step \(step) from measured optimizer times:\n\(planDescription)")
    }

    /// The gradient exchange for the current plan.
    private func makeExchange() throws(TrainError) -> GradientExchange {
        try GradientExchange(
            shards: shards, owners: plan.owners, tensorLayers: tensorLayers, store: parameters, communicator: communicator,
            bucketBytes: settings.bucketBytes, mode: settings.reduction, exchangeDType: settings.exchangeDType)
    }

    // MARK: - Factor health

    /// The measured health of the spectral factors of the shards this rank owns, keyed
    /// "shard/blockN.L" (one k³ product per factor).
    func ownedFactorHealth() -> [String: FactorHealthRecord] {
        var records: [String: FactorHealthRecord] = [:]
        for (index, shard) in shards.enumerated() {
            for (name, health) in optimizer.health(shard: index) {
                records["\(shard.name)/\(name)"] = FactorHealthRecord(
                    orthogonalityError: health.orthogonalityError, minEigenvalue: health.minEigenvalue,
                    maxEigenvalue: health.maxEigenvalue, conditionNumber: health.conditionNumber, failures: health.failures,
                    updates: health.updates, polarSteps: health.polarSteps)
            }
        }
        return records
    }
}

/// A batch's loss sum, correct count and samples, whether any rank saw a non-finite loss or
/// gradient, and whether any rank was asked to stop: what the ranks sum after each step (in this
/// order, as one small allreduce), so every rank decides alike at no extra collective.
struct BatchTotals {
    static let count = 5
    var lossSum: Double
    var correct: Double
    var samples: Double
    /// 0 when finite; after the reduction, the number of ranks that were not.
    var nonFinite: Double = 0
    /// 0 unless a stop signal arrived (`StopSignals`); after the reduction, the ranks that got one.
    var stopRequests: Double = 0

    init(lossSum: Double, correct: Int, samples: Int) {
        (self.lossSum, self.correct, self.samples) = (lossSum, Double(correct), Double(samples))
    }

    init(_ values: [Double]) {
        (lossSum, correct, samples, nonFinite, stopRequests) = (values[0], values[1], values[2], values[3], values[4])
    }

    func store(into values: inout [Double]) {
        (values[0], values[1], values[2], values[3], values[4]) = (lossSum, correct, samples, nonFinite, stopRequests)
    }
    var isFinite: Bool { nonFinite == 0 }
    var isStopRequested: Bool { stopRequests > 0 }
    /// The batch's mean loss (not finite when its loss was not, or it had no samples).
    var meanLoss: Double { samples > 0 ? lossSum / samples : .nan }
}
