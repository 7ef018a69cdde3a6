import Checkpoint
import Cluster
import Foundation
import NN
import Optim
import Testing
@testable import Train

/// The distributed step on ranks that are threads of this process (`ThreadCommunicator`): the
/// gradient exchange, the shard state transfer and resharding, in milliseconds. The real mpirun
/// jobs in SpectrainTests check the same paths across processes.
@Suite("Sharded update on in-process ranks")
struct InProcessShardingTests {
    /// Three tensors; a factor limit of 4 cuts the first into 2 x 3 blocks and the last into 1 x 2.
    static let tensors: [(name: String, shape: [Int])] = [("w1", [6, 10]), ("b1", [6]), ("w2", [3, 6])]

    static func shards(maxFactorDimension: Int = 4) -> [ParameterShard] {
        var optimizer = OptimizerConfig(type: .spectral)
        optimizer.preconditioner.maxFactorDimension = maxFactorDimension
        return ParameterShard.shards(of: ParameterStore<Float>(tensors: tensors).specs, optimizer: optimizer, ranks: 1)
    }

    /// A value that differs by rank, tensor element and trial, and whose sum depends on the order
    /// of addition in Float (so a different reduction order would show).
    static func gradient(rank: Int, element: Int) -> Float {
        Float(rank + 1) * 0.1 + Float(element) * 1e-7 * Float(rank * 7 + 3)
    }

    @Test("reduce-scatter leaves each shard's gradient summed on its owner; allreduce on every rank; the gather returns each owner's values to all",
          arguments: [2, 3, 4], [GradientReduction.reduceScatter, .allreduce])
    func exchange(ranks: Int, mode: GradientReduction) throws {
        let shards = Self.shards()
        #expect(shards.count == 9)
        // Buckets of 40 bytes (10 floats) so that several buckets and split shards are exercised.
        try Self.checkExchange(shards: shards, ranks: ranks, mode: mode, bucketBytes: 40)
    }

    @Test("an AdamW matrix's row bands travel in a bucket of their own, in place in the store (direct), with the same sums and gathers",
          arguments: [2, 3, 4], [GradientReduction.reduceScatter, .allreduce])
    func directBuckets(ranks: Int, mode: GradientReduction) throws {
        let shards = ParameterShard.shards(of: ParameterStore<Float>(tensors: Self.tensors).specs, optimizer: OptimizerConfig(type: .adamw), ranks: ranks)
        #expect(shards.filter { $0.tensor == 0 }.count == ranks)
        // 480-byte buckets: w1 (60 elements) holds at least half of one, so its bands get their own.
        let direct = try Self.checkExchange(shards: shards, ranks: ranks, mode: mode, bucketBytes: 480)
        // w1's bands, owned by ranks 0, 1, ... in row order, are one direct bucket: w1's 60 elements.
        #expect(direct.contains(0..<60), "direct buckets \(direct)")
        // In 1 MB buckets w1 is too small for a bucket of its own: one bucket, packed, no latency added.
        #expect(GradientExchange.bucketGroups(shards: shards, tensorLayers: [0, 0, 1], bucketBytes: 1 << 20).count == 1)
    }

    /// Runs one exchange of `shards` over `ranks` in-process ranks and checks it; returns the
    /// store ranges of its direct buckets.
    @discardableResult
    static func checkExchange(shards: [ParameterShard], ranks: Int, mode: GradientReduction, bucketBytes: Int) throws -> [Range<Int>] {
        let owners = OwnershipPlan.longestProcessingTime(costs: shards.map { Double($0.count) }, ranks: ranks).owners
        let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
            let store = ParameterStore<Float>(tensors: Self.tensors)
            for element in 0..<store.count { store.gradients[element] = Self.gradient(rank: communicator.rank, element: element) }
            let exchange = try GradientExchange(
                shards: shards, owners: owners, tensorLayers: [0, 0, 1], store: store, communicator: communicator,
                bucketBytes: bucketBytes, mode: mode)
            try exchange.reduceGradients()
            let reduced = Array(store.gradients)
            // Each rank writes a marker into the shards it owns; the gather must spread them.
            for (index, shard) in shards.enumerated() where owners[index] == communicator.rank {
                var marker = [Float](repeating: Float(1000 * communicator.rank + index), count: shard.count)
                marker.withUnsafeMutableBufferPointer { shard.scatter(from: $0.baseAddress!, into: store.values) }
            }
            try exchange.gatherParameters()
            return (reduced, Array(store.values), exchange.buckets.compactMap(\.direct))
        }
        for (rank, result) in results.enumerated() {
            let (reduced, values, _) = result
            for (index, shard) in shards.enumerated() {
                let elements = Self.elements(of: shard)
                if mode == .allreduce || owners[index] == rank {
                    // Sums in rank order, as ThreadCommunicator reduces: exact.
                    let expected = elements.map { element in (1..<ranks).reduce(Self.gradient(rank: 0, element: element)) { $0 + Self.gradient(rank: $1, element: element) } }
                    #expect(elements.map { reduced[$0] } == expected, "rank \(rank) shard \(shard.name)")
                }
                #expect(elements.allSatisfy { values[$0] == Float(1000 * owners[index] + index) }, "rank \(rank) shard \(shard.name)")
            }
        }
        return results[0].2
    }

    /// The flat-buffer indices of a shard's elements.
    static func elements(of shard: ParameterShard) -> [Int] {
        shard.rows.flatMap { row in shard.columns.map { shard.tensorOffset + row * shard.tensorColumns + $0 } }
    }

    /// A small run whose first layer (16 x 64) is cut into shards that spread over ranks: Kronecker
    /// blocks under spectral, row bands under AdamW on more than one rank.
    static func config(_ data: SyntheticData, optimizer kind: OptimizerConfig.Kind = .spectral) -> TrainConfig {
        var optimizer = TrainerTests.optimizer(kind)
        optimizer.preconditioner.maxFactorDimension = 8
        var config = data.config(optimizer: optimizer)
        config.training.maxSteps = 6
        return config
    }

    @Test("a state trained on 2 ranks, resharded to 1, 3 and 4 ranks, gathers back to the same bytes; each rank holds only its own shards' state",
          arguments: [1, 3, 4], [OptimizerConfig.Kind.spectral, .adamw])
    func reshards(to ranks: Int, optimizer: OptimizerConfig.Kind) throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let config = Self.config(data, optimizer: optimizer)
        let saved = try ThreadCommunicator.run(ranks: 2) { communicator in
            let trainer = try Trainer(config: config, communicator: communicator) { _ in }
            _ = try trainer.run(metrics: nil)
            var progress = TrainingProgress()
            progress.step = 6
            return try trainer.checkpointContents(progress: progress).map(Snapshot.init)
        }[0]!
        let restored = try ThreadCommunicator.run(ranks: ranks) { communicator in
            let trainer = try Trainer(config: config, communicator: communicator) { _ in }
            let contents = communicator.rank == 0 ? saved.contents : nil
            if let contents { _ = try trainer.validate(contents, folder: "in-memory") }
            try trainer.restore(from: contents)
            let sharded = trainer.sharded
            let holdsOnlyOwn = sharded.shards.indices.allSatisfy { sharded.optimizer.hasState(shard: $0) == (sharded.plan.owners[$0] == communicator.rank) }
            var progress = TrainingProgress()
            progress.step = 6
            return (holdsOnlyOwn, try trainer.checkpointContents(progress: progress).map(Snapshot.init))
        }
        #expect(restored.allSatisfy { $0.0 })
        let again = try #require(restored[0].1)
        #expect(again.model == saved.model)
        #expect(again.optimizer == saved.optimizer)
        if optimizer == .adamw {
            // Two moments per tensor, the banded 16 x 64 weight's saved whole as one rank saves it.
            let tensors = ["1_linear.weight", "1_linear.bias", "3_linear.weight", "3_linear.bias"]
            #expect(saved.optimizer.map(\.name).sorted() == tensors.flatMap { ["optim/\($0)/adam.m", "optim/\($0)/adam.v"] }.sorted())
            #expect(saved.optimizer.first { $0.name == "optim/1_linear.weight/adam.m" }?.shape == [16 * 64])
        } else {
            #expect(saved.optimizer.count > 20)
        }
    }

    @Test("2 and 3 in-process ranks train the same model as 1: losses within 1e-5, replicas bit-identical",
          arguments: [OptimizerConfig.Kind.spectral, .adamw])
    func sameModelOnAnyRanks(optimizer: OptimizerConfig.Kind) throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let config = Self.config(data, optimizer: optimizer)
        var finalLoss: [Int: Double] = [:]
        for ranks in [1, 2, 3] {
            let losses = try ThreadCommunicator.run(ranks: ranks) { communicator in
                let trainer = try Trainer(config: config, communicator: communicator) { _ in }
                _ = try trainer.run(metrics: nil)
                try trainer.sharded.checkReplicas(step: 6)
                return try trainer.evaluate(step: 6).loss
            }
            #expect(Set(losses).count == 1, "ranks disagree on \(ranks) ranks: \(losses)")
            finalLoss[ranks] = losses[0]
        }
        // Ranks sum partial gradients in another order than one rank does: Float rounding only.
        for ranks in [2, 3] {
            #expect(abs(finalLoss[ranks]! - finalLoss[1]!) <= 1e-5 * finalLoss[1]!, "\(ranks) ranks: \(finalLoss[ranks]!) vs \(finalLoss[1]!)")
        }
    }

    @Test("overlap on and off train the same bits on 2 and 3 in-process ranks with many buckets; with overlap the gathers stay in flight after a step",
          arguments: [2, 3])
    func overlapComputesTheSameBits(ranks: Int) throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = Self.config(data)
        // 256-byte buckets: every layer's tensors span several buckets, so the per-layer starts,
        // the reverse update order and the per-layer waits all come into play.
        config.distributed.bucketMegabytes = 256.0 / 1_048_576
        var outcomes: [[[Float]]] = []
        for overlap in [false, true] {
            config.distributed.overlap = overlap ? .on : .off
            let (config, steps) = (config, config.training.maxSteps!)
            let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                let trainer = try Trainer(config: config, communicator: communicator) { _ in }
                let phases = PhaseRunner(watchdog: nil, faults: FaultInjection(), rank: communicator.rank, parameters: trainer.model.parameters)
                var pending: [Bool] = []
                for step in 0..<steps {
                    _ = try trainer.trainStep(step, phases: phases)
                    pending.append(trainer.sharded.hasPendingTransfers)
                }
                try trainer.sharded.settle()
                try trainer.sharded.checkReplicas(step: steps)
                return (Array(trainer.model.parameters.values), pending)
            }
            for (rank, result) in results.enumerated() {
                #expect(result.1 == [Bool](repeating: overlap, count: steps), "rank \(rank), overlap \(overlap)")
            }
            outcomes.append(results.map(\.0))
        }
        // Both modes run the same collectives on the same packed buckets: the same sums, bit for bit.
        #expect(outcomes[0] == outcomes[1])
    }
}

/// A checkpoint's tensors, comparable, sendable out of a rank's thread.
struct Snapshot: Sendable {
    var contents: CheckpointContents
    var model: [StoredTensor] { contents.model }
    var optimizer: [StoredTensor] { contents.optimizer.sorted { $0.name < $1.name } }

    init(_ contents: CheckpointContents) { self.contents = contents }
}
