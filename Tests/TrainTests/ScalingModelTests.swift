import Cluster
import NN
import Optim
import Testing
@testable import Train

/// The scaling model's simulation against cases worked out by hand.
@Suite("Scaling model")
struct ScalingModelTests {
    /// Two layers of 1000 and 10 elements (one tensor each) under AdamW: shard 0 in layer 0,
    /// shard 1 in layer 1; forward and backward 1 ms and 2 ms per sample for layer 0, 0.5 and 1 ms
    /// for layer 1; updates of 4 ms and 1 ms a step; batch 8. The first tensor is a vector (never
    /// cut into bands) unless `firstShape` says otherwise.
    static func profile(firstShape: [Int] = [1000]) -> StepProfile {
        let store = ParameterStore<Float>(tensors: [("0_linear.weight", firstShape), ("1_linear.weight", [1, 10])])
        let optimizer = OptimizerConfig(type: .adamw)
        return StepProfile(
            forwardPerSample: [0.001, 0.0005], backwardPerSample: [0.002, 0.001], otherPerSample: 0,
            updateSeconds: [0.004, 0.001], specs: store.specs, shards: ParameterShard.shards(of: store.specs, optimizer: optimizer, ranks: 1),
            tensorLayers: [0, 1], globalBatch: 8, optimizer: optimizer)
    }

    /// alpha 1 ms per ring step, 4000 bytes/s, so a bucket of 4000 bytes on 2 ranks takes
    /// 1 ms + 0.5 s and of 40 bytes 1 ms + 5 ms.
    static func model(bucketBytes: Int = 40) -> ScalingModel {
        let link = LinkModel(alpha: 0.001, beta: 4000, ranks: 2)
        return ScalingModel(reduceScatter: link, allgather: link, smallAllreduceSeconds: 0.002, bucketBytes: bucketBytes)
    }

    @Test("one node: compute of the whole batch plus every update, nothing on the link")
    func oneNode() {
        let step = Self.model().predict(Self.profile(), nodes: 1, overlap: true)
        // 8 x (1 + 0.5 + 2 + 1) ms + 4 + 1 ms.
        #expect(abs(step.stepSeconds - 0.041) < 1e-12)
        #expect(step.linkSeconds == 0)
    }

    @Test("without overlap, 2 nodes: half the compute, the busiest owner's update and every collective in turn")
    func waiting() {
        let step = Self.model().predict(Self.profile(), nodes: 2, overlap: false)
        // Buckets of 40 bytes: layer 1's 40 bytes alone, then layer 0's 4000. Each collective:
        // 1 ms + (1/2) M / 4000; reduce-scatter and allgather per bucket; totals 2 ms x log2(2).
        let collectives = 2 * ((0.001 + 20.0 / 4000) + (0.001 + 2000.0 / 4000))
        let compute = 4 * 0.0045
        // The owners: the 4 ms shard on one rank, the 1 ms shard on the other.
        #expect(abs(step.stepSeconds - (compute + 0.004 + collectives + 0.002)) < 1e-12)
        #expect(abs(step.linkSeconds - (collectives + 0.002)) < 1e-12)
        #expect(step.limit == "bandwidth")
    }

    @Test("with overlap, a bucket whose layer finishes backward early travels during the rest of backward")
    func overlapHidesTheLateLayer() {
        // A fast link: layer 1's bucket (done after 4 ms of backward on 4 samples) finishes its
        // reduce-scatter during layer 0's 8 ms of backward; layer 0's bucket cannot hide.
        let fast = ScalingModel(
            reduceScatter: LinkModel(alpha: 0.0001, beta: 1e7, ranks: 2), allgather: LinkModel(alpha: 0.0001, beta: 1e7, ranks: 2),
            smallAllreduceSeconds: 0.0002, bucketBytes: 40)
        let overlapped = fast.predict(Self.profile(), nodes: 2, overlap: true)
        let waiting = fast.predict(Self.profile(), nodes: 2, overlap: false)
        #expect(overlapped.stepSeconds < waiting.stepSeconds)
        // Never below the work itself: compute and the busiest update.
        #expect(overlapped.stepSeconds >= overlapped.computeSeconds + overlapped.updateSeconds - 1e-12)
        // Hidden: layer 1's reduce-scatter (0.1 ms + 20 B / 1e7) and its allgather, which forward
        // waits for only at layer 1, after layer 0's 4 ms of forward.
        let hidden = waiting.stepSeconds - overlapped.stepSeconds
        #expect(abs(hidden - 2 * (0.0001 + 20.0 / 1e7)) < 1e-9, "\(hidden)")
        // With an overlap cost, the hidden link time slows the computation it overlapped.
        var costly = fast
        costly.overlapCost = 0.5
        let slowed = costly.predict(Self.profile(), nodes: 2, overlap: true)
        let hiddenLink = overlapped.linkSeconds - (overlapped.stepSeconds - overlapped.computeSeconds - overlapped.updateSeconds)
        #expect(abs(slowed.stepSeconds - (overlapped.stepSeconds + 0.5 * hiddenLink)) < 1e-12)
    }

    @Test("overlap is never slower than waiting, on any node count and link")
    func overlapNeverSlower() {
        for alpha in [0.0, 1e-5, 1e-3] {
            for beta in [1e5, 1e8, 1e11] {
                for bucketBytes in [40, 4000, 1 << 20] {
                    let link = LinkModel(alpha: alpha, beta: beta, ranks: 2)
                    let model = ScalingModel(reduceScatter: link, allgather: link, smallAllreduceSeconds: 2 * alpha, bucketBytes: bucketBytes)
                    for nodes in [2, 3, 4, 8, 64] {
                        let overlapped = model.predict(Self.profile(), nodes: nodes, overlap: true).stepSeconds
                        let waiting = model.predict(Self.profile(), nodes: nodes, overlap: false).stepSeconds
                        #expect(overlapped <= waiting + 1e-12, "alpha \(alpha) beta \(beta) bucket \(bucketBytes) nodes \(nodes)")
                    }
                }
            }
        }
    }

    @Test("a matrix updated elementwise is cut into row bands on several nodes, its measured update shared by element count")
    func bandsShareTheUpdate() {
        let profile = Self.profile(firstShape: [10, 100])
        let (shards, seconds) = profile.shards(onRanks: 2)
        #expect(shards.map(\.name) == ["0_linear.weight#b0", "0_linear.weight#b1", "1_linear.weight"])
        #expect(seconds == [0.002, 0.002, 0.001])
        // The busiest owner: one 2 ms band and the 1 ms tensor, not the whole 4 ms matrix.
        let step = Self.model().predict(profile, nodes: 2, overlap: false)
        #expect(abs(step.updateSeconds - 0.003) < 1e-12)
        #expect(abs(Self.model().predict(Self.profile(), nodes: 2, overlap: false).updateSeconds - 0.004) < 1e-12)
    }

    @Test("nodes sharing cores compute slower once they outnumber them")
    func sharedCores() {
        var model = Self.model()
        model.sharedCores = 2
        let two = model.predict(Self.profile(), nodes: 2, overlap: false)
        let three = model.predict(Self.profile(), nodes: 3, overlap: false)
        #expect(abs(two.computeSeconds - 4 * 0.0045) < 1e-12)
        // 3 samples on the busiest rank, at 3/2 the time each.
        #expect(abs(three.computeSeconds - 3 * 1.5 * 0.0045) < 1e-12)
    }

    @Test("a profile times every layer's forward and backward and every shard's update")
    func profile() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = InProcessShardingTests.config(data)
        config.training.maxSteps = nil
        let profile = try StepProfile.measure(config: config, ranks: 2, steps: 3, warmup: 1)
        let model = try Sequential<Float>.build(inputShape: [8, 8], specs: config.model.layers, maxBatch: 1)
        #expect(profile.forwardPerSample.count == model.layers.count)
        // Flatten and ReLU may take next to nothing; the two linear layers (1 and 3) cannot.
        #expect(profile.forwardPerSample.allSatisfy { $0 >= 0 } && profile.backwardPerSample.allSatisfy { $0 >= 0 })
        #expect([1, 3].allSatisfy { profile.forwardPerSample[$0] > 0 && profile.backwardPerSample[$0] > 0 })
        #expect(profile.updateSeconds.count == profile.shards.count)
        #expect(profile.updateSeconds.allSatisfy { $0 > 0 })
        // The blocking of 2 ranks (the synthetic config's fixed 8) and the model's tensor layers.
        #expect(profile.optimizer.preconditioner.maxFactorDimension == 8)
        #expect(profile.tensorLayers == model.parameterIndices.enumerated().flatMap { layer, tensors in tensors.map { _ in layer } })
    }
}
