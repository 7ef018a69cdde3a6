import Datasets
import Foundation
import Testing

@Suite("Global sampler")
struct GlobalSamplerTests {
    @Test("each epoch's order is a permutation")
    func permutation() {
        var sampler = GlobalSampler(datasetCount: 1000, seed: 5)
        for epoch in 0..<4 {
            let order = sampler.permutation(epoch: epoch)
            #expect(order.sorted() == Array(0..<1000))
            #expect(order != Array(0..<1000))
        }
        var single = GlobalSampler(datasetCount: 1, seed: 5)
        #expect(single.permutation(epoch: 3) == [0])
    }

    @Test("the order is a pure function of (seed, epoch)")
    func pureFunction() {
        var first = GlobalSampler(datasetCount: 500, seed: 42)
        var second = GlobalSampler(datasetCount: 500, seed: 42)
        // Visited in different orders, so agreement cannot come from shared cache history.
        let forward = (0..<6).map { first.permutation(epoch: $0) }
        let backward = (0..<6).reversed().map { second.permutation(epoch: $0) }.reversed()
        #expect(forward == Array(backward))
        #expect(first.globalIndex(epoch: 2, position: 17) == forward[2][17])
        #expect(first.globalIndex(epoch: 0, position: 499) == forward[0][499])
        for epoch in 1..<6 { #expect(forward[epoch] != forward[0]) }
        var otherSeed = GlobalSampler(datasetCount: 500, seed: 43)
        #expect(otherSeed.permutation(epoch: 0) != forward[0])
    }

    @Test("the order is fixed across builds and Swift versions (checkpoints depend on it)")
    func pinnedOrder() {
        var sampler = GlobalSampler(datasetCount: 10, seed: 42)
        // The same values come from an independent Python transcription of SplitMix64 seeding,
        // xoshiro256**, the epoch mix and Lemire's draw. A change here breaks exact resume of saved runs.
        #expect(sampler.permutation(epoch: 0) == [2, 8, 7, 5, 0, 6, 1, 9, 4, 3])
        #expect(sampler.permutation(epoch: 1) == [8, 6, 0, 3, 1, 4, 9, 5, 7, 2])
    }

    @Test("Fisher-Yates is unbiased: every element lands at position 0 about equally often")
    func uniformity() {
        var sampler = GlobalSampler(datasetCount: 5, seed: 9)
        var counts = [Int](repeating: 0, count: 5)
        for epoch in 0..<5000 { counts[sampler.permutation(epoch: epoch)[0]] += 1 }
        // Expected 1000 each with standard deviation sqrt(5000 * 0.2 * 0.8) = 28; 5 deviations
        // (141) catches a biased shuffle (Sattolo's variant never leaves element 0 in place, a
        // modulo-biased draw shifts cells by far more) and the seed is fixed, so it cannot flake.
        for count in counts { #expect(abs(count - 1000) < 141, "\(counts)") }
    }

    @Test("steps drop the incomplete last batch of each epoch")
    func dropLast() {
        var sampler = GlobalSampler(datasetCount: 10, seed: 1)
        #expect(sampler.stepsPerEpoch(globalBatch: 3) == 3)
        #expect(sampler.stepsPerEpoch(globalBatch: 10) == 1)
        var indices: [Int] = []
        for step in 0..<7 {
            sampler.fillIndices(step: step, globalBatch: 3, rank: 0, ranks: 1, into: &indices)
            let order = sampler.permutation(epoch: step / 3)
            #expect(indices == Array(order[(step % 3) * 3..<(step % 3) * 3 + 3]), "step \(step)")
        }
    }

    @Test("rank slices cover the global batch exactly once, in order", arguments: [1, 2, 3])
    func slicesCoverBatch(ranks: Int) {
        var sampler = GlobalSampler(datasetCount: 100, seed: 3)
        var global: [Int] = []
        var local: [Int] = []
        for globalBatch in [7, 8, 9, 12] {
            for step in [0, 5, 11, 40] {
                sampler.fillIndices(step: step, globalBatch: globalBatch, rank: 0, ranks: 1, into: &global)
                var joined: [Int] = []
                for rank in 0..<ranks {
                    sampler.fillIndices(step: step, globalBatch: globalBatch, rank: rank, ranks: ranks, into: &local)
                    #expect(local.count == GlobalSampler.localSlice(globalBatch: globalBatch, rank: rank, ranks: ranks).count)
                    joined += local
                }
                #expect(joined == global, "G \(globalBatch), step \(step), ranks \(ranks)")
                #expect(Set(joined).count == globalBatch)
            }
        }
    }

    @Test("uneven global batches give the first ranks one more sample")
    func unevenSplit() {
        let sizes = (0..<3).map { GlobalSampler.localSlice(globalBatch: 10, rank: $0, ranks: 3) }
        #expect(sizes == [0..<4, 4..<7, 7..<10])
        let more = (0..<4).map { GlobalSampler.localSlice(globalBatch: 2, rank: $0, ranks: 4) }
        #expect(more == [0..<1, 1..<2, 2..<2, 2..<2])
        #expect(GlobalSampler.localSlice(globalBatch: 9, rank: 2, ranks: 3) == 6..<9)
    }

    @Test("fillIndices reuses the array's storage")
    func reusesStorage() {
        var sampler = GlobalSampler(datasetCount: 64, seed: 0)
        var indices: [Int] = []
        indices.reserveCapacity(16)
        let storage = indices.withUnsafeBufferPointer { $0.baseAddress }
        for step in 0..<10 {
            sampler.fillIndices(step: step, globalBatch: 16, rank: step % 2, ranks: 2, into: &indices)
            #expect(indices.count == 8)
            #expect(indices.withUnsafeBufferPointer { $0.baseAddress } == storage)
        }
    }

    @Test("resuming from a saved cursor draws the same batches as continuing")
    func resume() throws {
        let count = 50, globalBatch = 8, ranks = 3, seed: UInt64 = 77
        var sampler = GlobalSampler(datasetCount: count, seed: seed)
        let steps = sampler.stepsPerEpoch(globalBatch: globalBatch)
        #expect(steps == 6)

        func batches(_ sampler: inout GlobalSampler, from cursor: inout SamplerCursor, count: Int) -> [[Int]] {
            var result: [[Int]] = []
            var indices: [Int] = []
            for _ in 0..<count {
                var batch: [Int] = []
                for rank in 0..<ranks {
                    sampler.fillIndices(cursor: cursor, globalBatch: globalBatch, rank: rank, ranks: ranks, into: &indices)
                    batch += indices
                }
                result.append(batch)
                cursor.advance(stepsPerEpoch: steps)
            }
            return result
        }
        var cursor = SamplerCursor()
        let uninterrupted = batches(&sampler, from: &cursor, count: 20)

        var partial = SamplerCursor()
        var interrupted = GlobalSampler(datasetCount: count, seed: seed)
        let before = batches(&interrupted, from: &partial, count: 9)
        #expect(partial == SamplerCursor(epoch: 1, step: 3))
        let saved = try JSONEncoder().encode(partial)
        var restored = try JSONDecoder().decode(SamplerCursor.self, from: saved)
        #expect(restored == partial)
        var resumed = GlobalSampler(datasetCount: count, seed: seed)
        let after = batches(&resumed, from: &restored, count: 11)
        #expect(before + after == uninterrupted)

        // The cursor and the global step name the same batch.
        var byStep: [Int] = []
        var byCursor: [Int] = []
        for step in [0, 5, 6, 13, 19] {
            let cursor = SamplerCursor(globalStep: step, stepsPerEpoch: steps)
            #expect(cursor.globalStep(stepsPerEpoch: steps) == step)
            resumed.fillIndices(step: step, globalBatch: globalBatch, rank: 1, ranks: ranks, into: &byStep)
            resumed.fillIndices(cursor: cursor, globalBatch: globalBatch, rank: 1, ranks: ranks, into: &byCursor)
            #expect(byStep == byCursor)
        }
    }

    @Test("a saved cursor with unknown fields or negative values is rejected")
    func cursorDecoding() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(SamplerCursor.self, from: Foundation.Data(#"{"epoch": 1, "step": 2, "rank": 0}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(SamplerCursor.self, from: Foundation.Data(#"{"epoch": -1, "step": 0}"#.utf8))
        }
    }
}

@Suite("Evaluation batches")
struct EvaluationBatchesTests {
    @Test("fixed order in batches, the last one partial")
    func batches() {
        let batches = EvaluationBatches(sampleCount: 10, batchSize: 4)
        #expect(Array(batches) == [0..<4, 4..<8, 8..<10])
        #expect(EvaluationBatches(sampleCount: 8, batchSize: 4).count == 2)
        #expect(EvaluationBatches(sampleCount: 3, batchSize: 8).map { $0 } == [0..<3])
    }

    @Test("rank slices cover every sample exactly once, in order", arguments: [1, 2, 3])
    func slices(ranks: Int) {
        let batches = EvaluationBatches(sampleCount: 23, batchSize: 5)
        var seen: [Int] = []
        var indices: [Int] = []
        for batch in batches.indices {
            for rank in 0..<ranks {
                batches.fillIndices(batch: batch, rank: rank, ranks: ranks, into: &indices)
                #expect(indices == Array(batches.localRange(batch: batch, rank: rank, ranks: ranks)))
                seen += indices
            }
        }
        #expect(seen == Array(0..<23))
        // The partial last batch (20..<23) over 2 ranks: the first rank takes one more.
        #expect(batches.localRange(batch: 4, rank: 0, ranks: 2) == 20..<22)
        #expect(batches.localRange(batch: 4, rank: 1, ranks: 2) == 22..<23)
    }
}
