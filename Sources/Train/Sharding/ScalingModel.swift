import Cluster
import Foundation
import Optim

/// Predicts the step time of data-parallel training on N nodes (one rank each) from a
/// `StepProfile` measured on one core and the link's ring-model parameters (`LinkModel`, fitted by
/// `spectrain bench link`), by simulating steady-state steps of every rank the way the trainer
/// runs them (docs/scaling.md).
///
/// The simulation follows `ShardedUpdate` and `GradientExchange`: each rank computes its share of
/// the batch layer by layer; with overlap a bucket's reduce-scatter starts when every rank has
/// finished its earliest layer's backward, owners update bucket by bucket in forward order after
/// its reduction, the bucket's allgather starts when every owner is done with it, and the next
/// forward waits at each layer for its buckets. Collectives share one link in the order they
/// start, each taking `(N - 1) alpha + ((N - 1) / N) M / beta`; the small all-reduce of the batch
/// totals takes the measured small-message latency per doubling of the ranks. Without overlap
/// every collective runs alone between the phases. Hidden link time slows the computation it
/// overlaps by `overlapCost`.
///
/// What it leaves out: GEMM efficiency changing with the per-rank batch (compute scales linearly with it), and
/// switch contention (every rank's link is assumed to run at `beta` at once).
package struct ScalingModel: Sendable {
    /// The fitted reduce-scatter and allgather links and the small all-reduce's time on 2 ranks.
    package var reduceScatter: LinkModel
    package var allgather: LinkModel
    package var smallAllreduceSeconds: Double
    /// Gradient bucket size, as `distributed.bucketMegabytes`.
    package var bucketBytes: Int
    /// Bytes per element on the wire: 4, or 2 with `distributed.exchangeDType` bfloat16.
    package var wireBytesPerElement: Int
    /// When the N ranks share this many cores (emulated hosts on one machine), compute slows by
    /// N / cores once N exceeds them; nil: every node has its own cores.
    package var sharedCores: Int?
    /// Seconds of computation lost per second a transfer is in flight behind it (the progress
    /// thread's polls and the network stack on the computing cores; `bench link` measures it).
    package var overlapCost: Double

    package init(
        reduceScatter: LinkModel, allgather: LinkModel, smallAllreduceSeconds: Double, bucketBytes: Int, sharedCores: Int? = nil,
        overlapCost: Double = 0, wireBytesPerElement: Int = MemoryLayout<Float>.size
    ) {
        self.wireBytesPerElement = wireBytesPerElement
        self.reduceScatter = reduceScatter
        self.allgather = allgather
        self.smallAllreduceSeconds = smallAllreduceSeconds
        self.bucketBytes = bucketBytes
        self.sharedCores = sharedCores
        self.overlapCost = overlapCost
    }

    /// One predicted configuration: the step and where its time goes, on the busiest rank.
    package struct Prediction: Sendable {
        package var nodes: Int
        package var overlap: Bool
        package var stepSeconds: Double
        /// Data, forward and backward of the busiest rank's share of the batch.
        package var computeSeconds: Double
        /// The busiest owner's optimizer updates.
        package var updateSeconds: Double
        /// Time some transfer occupies the link, and the part of the step it adds to computation.
        package var linkSeconds: Double
        package var exposedSeconds: Double
        /// The link time's split: per-message latency and bytes over bandwidth.
        package var latencySeconds: Double
        package var bandwidthSeconds: Double
        /// The largest of compute, update, latency and bandwidth: what bounds this step.
        package var limit: String
    }

    /// The predicted steady-state step on `nodes` ranks.
    package func predict(_ profile: StepProfile, nodes: Int, overlap: Bool) -> Prediction {
        let ranks = max(1, nodes)
        let slowdown = sharedCores.map { max(1, Double(ranks) / Double($0)) } ?? 1
        let share = Double((profile.globalBatch + ranks - 1) / ranks) * slowdown
        let forward = profile.forwardPerSample.map { $0 * share }
        let backward = profile.backwardPerSample.map { $0 * share }
        let other = profile.otherPerSample * share
        let compute = other + forward.reduce(0, +) + backward.reduce(0, +)
        let (shards, updateSeconds) = profile.shards(onRanks: ranks)
        let owners = OwnershipReport.plan(shards: shards, optimizer: profile.optimizer, ranks: ranks).owners
        let groups = ranks == 1 ? [Array(shards.indices.reversed())]
            : GradientExchange.bucketGroups(shards: shards, tensorLayers: profile.tensorLayers, bucketBytes: bucketBytes)
        let bytes = groups.map { Double($0.reduce(0) { $0 + shards[$1].count } * wireBytesPerElement) }
        let firstLayer = GradientExchange.firstLayers(of: groups, shards: shards, tensorLayers: profile.tensorLayers)
        var update = [[Double]](repeating: [Double](repeating: 0, count: groups.count), count: ranks)
        for (bucket, group) in groups.enumerated() {
            for shard in group { update[owners[shard]][bucket] += updateSeconds[shard] * slowdown }
        }
        let updateMax = update.map { $0.reduce(0, +) }.max() ?? 0
        guard ranks > 1 else {
            return Prediction(
                nodes: 1, overlap: overlap, stepSeconds: compute + updateMax, computeSeconds: compute, updateSeconds: updateMax,
                linkSeconds: 0, exposedSeconds: 0, latencySeconds: 0, bandwidthSeconds: 0, limit: "compute")
        }
        let scatter = LinkModel(alpha: reduceScatter.alpha, beta: reduceScatter.beta, ranks: ranks)
        let gather = LinkModel(alpha: allgather.alpha, beta: allgather.beta, ranks: ranks)
        let scatterSeconds = bytes.map { scatter.seconds(bytes: $0) }
        let gatherSeconds = bytes.map { gather.seconds(bytes: $0) }
        let totalsSeconds = smallAllreduceSeconds * log2(Double(ranks)).rounded(.up)
        let latency = Double(groups.count) * Double(ranks - 1) * (scatter.alpha + gather.alpha) + totalsSeconds
        let bandwidth = bytes.reduce(0) { $0 + LinkModel.bytesSentPerRank(total: $1, ranks: ranks) * (1 / scatter.beta + 1 / gather.beta) }
        let link = scatterSeconds.reduce(0, +) + gatherSeconds.reduce(0, +) + totalsSeconds
        var step = compute + link + updateMax
        if overlap {
            step = overlappedStep(
                forward: forward, backward: backward, other: other, update: update, firstLayer: firstLayer,
                scatterSeconds: scatterSeconds, gatherSeconds: gatherSeconds, totalsSeconds: totalsSeconds)
            // The link time the simulation hid costs the computation it hid behind.
            let hidden = max(0, link - max(0, step - compute - updateMax))
            step += overlapCost * min(hidden, compute + updateMax)
        }
        let parts = [("compute", compute), ("optimizer update", updateMax), ("latency", latency), ("bandwidth", bandwidth)]
        return Prediction(
            nodes: ranks, overlap: overlap, stepSeconds: step, computeSeconds: compute, updateSeconds: updateMax,
            linkSeconds: link, exposedSeconds: max(0, step - compute - updateMax), latencySeconds: latency, bandwidthSeconds: bandwidth,
            limit: parts.max { $0.1 < $1.1 }!.0)
    }

    /// The step time of the overlapped schedule: a few steps simulated, the last one's length.
    private func overlappedStep(
        forward: [Double], backward: [Double], other: Double, update: [[Double]], firstLayer: [Int],
        scatterSeconds: [Double], gatherSeconds: [Double], totalsSeconds: Double
    ) -> Double {
        let (ranks, buckets, layers) = (update.count, firstLayer.count, forward.count)
        var start = [Double](repeating: 0, count: ranks)
        var gathered = [Double](repeating: 0, count: buckets)
        var linkFree = 0.0
        var length = 0.0
        for _ in 0..<4 {
            var ready = [Double](repeating: 0, count: buckets)
            var backwardEnd = 0.0
            for rank in 0..<ranks {
                var time = start[rank] + other
                for layer in 0..<layers {
                    for bucket in 0..<buckets where firstLayer[bucket] <= layer { time = max(time, gathered[bucket]) }
                    time += forward[layer]
                }
                for layer in (0..<layers).reversed() {
                    time += backward[layer]
                    for bucket in 0..<buckets where firstLayer[bucket] == layer { ready[bucket] = max(ready[bucket], time) }
                }
                backwardEnd = max(backwardEnd, time)
            }
            var reduced = [Double](repeating: 0, count: buckets)
            for bucket in 0..<buckets {
                let begin = max(ready[bucket], linkFree)
                reduced[bucket] = begin + scatterSeconds[bucket]
                linkFree = reduced[bucket]
            }
            let totalsDone = max(backwardEnd, linkFree) + totalsSeconds
            linkFree = totalsDone
            var updated = [Double](repeating: 0, count: buckets)
            var next = start
            for rank in 0..<ranks {
                var time = totalsDone
                for bucket in (0..<buckets).reversed() {
                    time = max(time, reduced[bucket]) + update[rank][bucket]
                    updated[bucket] = max(updated[bucket], time)
                }
                next[rank] = time
            }
            for bucket in (0..<buckets).reversed() {
                gathered[bucket] = max(updated[bucket], linkFree) + gatherSeconds[bucket]
                linkFree = gathered[bucket]
            }
            length = next.max()! - start.max()!
            start = next
        }
        return length
    }
}
