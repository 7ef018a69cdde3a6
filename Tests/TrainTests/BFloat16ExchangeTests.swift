import Cluster
import Linalg
import NN
import Optim
import Testing
@testable import Train

/// `distributed.exchangeDType: bfloat16` on ranks that are threads of this process. The
/// expectations are exact (tolerance 0) where the design fixes the arithmetic: owners sum the
/// rounded contributions in Float32 in rank order, and every rank adds the same rounded step.
@Suite("bfloat16 gradient exchange")
struct BFloat16ExchangeTests {
    /// Values before the update, the same on every rank (replicas).
    static func previous(_ element: Int) -> Float { 0.5 + Float(element) * 1e-3 }

    /// The owner's updated value: a step of a few thousandths, not a bfloat16 (so rounding shows).
    static func updated(_ element: Int, shard: Int) -> Float { previous(element) - 0.00123 * Float(shard + 1) }

    @Test("owners get the Float32 sum of the bfloat16 gradients in rank order; every rank gets previous + the rounded step",
          arguments: [2, 3], [OptimizerConfig.Kind.spectral, .adamw])
    func exchange(ranks: Int, optimizer: OptimizerConfig.Kind) throws {
        var config = OptimizerConfig(type: optimizer)
        config.preconditioner.maxFactorDimension = 4
        let tensors = InProcessShardingTests.tensors
        let shards = ParameterShard.shards(of: ParameterStore<Float>(tensors: tensors).specs, optimizer: config, ranks: ranks)
        let owners = OwnershipPlan.longestProcessingTime(costs: shards.map { Double($0.count) }, ranks: ranks).owners
        // 40-byte buckets: several packed ones for the spectral blocks; AdamW's bands of w1 direct.
        let bucketBytes = optimizer == .adamw ? 240 : 40
        let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
            let store = ParameterStore<Float>(tensors: tensors)
            for element in 0..<store.count {
                store.gradients[element] = InProcessShardingTests.gradient(rank: communicator.rank, element: element)
                store.values[element] = Self.previous(element)
            }
            let exchange = try GradientExchange(
                shards: shards, owners: owners, tensorLayers: [0, 0, 1], store: store, communicator: communicator,
                bucketBytes: bucketBytes, mode: .reduceScatter, exchangeDType: .bfloat16)
            try exchange.reduceGradients()
            let reduced = Array(store.gradients)
            for (index, shard) in shards.enumerated() where owners[index] == communicator.rank {
                for element in InProcessShardingTests.elements(of: shard) { store.values[element] = Self.updated(element, shard: index) }
            }
            try exchange.gatherParameters()
            return (reduced, Array(store.values), exchange.buckets.map { $0.direct != nil })
        }
        // Both kinds of bucket are exercised: packed ones (spectral's blocks), direct ones (AdamW's bands).
        #expect(results[0].2.contains(optimizer == .adamw))
        for (rank, (reduced, values, _)) in results.enumerated() {
            #expect(values == results[0].1, "rank \(rank): replicas differ")
            for (index, shard) in shards.enumerated() {
                for element in InProcessShardingTests.elements(of: shard) {
                    if owners[index] == rank {
                        let sum = (0..<ranks).reduce(Float(0)) { $0 + BFloat16.rounded(InProcessShardingTests.gradient(rank: $1, element: element)) }
                        #expect(reduced[element] == sum, "rank \(rank) shard \(shard.name) element \(element)")
                    }
                    let step = BFloat16.rounded(Self.updated(element, shard: index) - Self.previous(element))
                    #expect(values[element] == Self.previous(element) + step, "rank \(rank) shard \(shard.name) element \(element)")
                }
            }
        }
    }

    @Test("training on 2 and 3 ranks: replicas bit-identical, overlap on and off the same bits, close to the Float32 exchange",
          arguments: [2, 3])
    func trains(ranks: Int) throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = InProcessShardingTests.config(data)
        config.distributed.bucketMegabytes = 256.0 / 1_048_576
        func run(_ dtype: ExchangeDType, overlap: Bool) throws -> (values: [Float], loss: Double) {
            config.distributed.exchangeDType = dtype
            config.distributed.overlap = overlap ? .on : .off
            let config = config
            let results = try ThreadCommunicator.run(ranks: ranks) { communicator in
                let trainer = try Trainer(config: config, communicator: communicator) { _ in }
                _ = try trainer.run(metrics: nil)
                try trainer.sharded.checkReplicas(step: config.training.maxSteps!)
                return (Array(trainer.model.parameters.values), try trainer.evaluate(step: config.training.maxSteps!).loss)
            }
            #expect(Set(results.map(\.1)).count == 1, "ranks disagree: \(results.map(\.1))")
            return results[0]
        }
        let halved = try run(.bfloat16, overlap: false)
        #expect(try run(.bfloat16, overlap: true).values == halved.values)
        let full = try run(.float32, overlap: false)
        #expect(halved.values != full.values, "the bfloat16 exchange rounded nothing")
        // Six steps with gradients and steps rounded to 8 bits: the loss moves by rounding only.
        #expect(abs(halved.loss - full.loss) <= 0.01 * full.loss, "bfloat16 \(halved.loss), Float32 \(full.loss)")
    }

    @Test("bfloat16 exchange needs the reduce-scatter: with allreduce the configuration is refused")
    func needsReduceScatter() throws {
        var settings = DistributedConfig()
        settings.exchangeDType = .bfloat16
        settings.reduction = .allreduce
        let problem = try #require(settings.validationError())
        #expect(problem.contains("exchangeDType") && problem.contains("reduceScatter"), "\(problem)")
    }
}
