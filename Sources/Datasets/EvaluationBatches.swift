/// The evaluation order: samples `0..<count` in batches of `batchSize`, the last one partial, each
/// split over ranks as training batches are (`GlobalSampler.localSlice`), so every sample is
/// evaluated exactly once whatever the number of ranks.
///
/// A collection of the batches' sample ranges: `for batch in EvaluationBatches(...)`.
package struct EvaluationBatches: RandomAccessCollection, Sendable, Equatable {
    package let count: Int
    package let sampleCount: Int
    package let batchSize: Int

    package init(sampleCount: Int, batchSize: Int) {
        precondition(sampleCount >= 0 && batchSize > 0, "EvaluationBatches: \(sampleCount) samples in batches of \(batchSize)")
        self.sampleCount = sampleCount
        self.batchSize = batchSize
        self.count = (sampleCount + batchSize - 1) / batchSize
    }

    package var startIndex: Int { 0 }
    package var endIndex: Int { count }

    /// The samples of batch `batch`.
    package subscript(batch: Int) -> Range<Int> {
        precondition(batch >= 0 && batch < count, "EvaluationBatches: batch \(batch) outside 0..<\(count)")
        let start = batch * batchSize
        return start..<Swift.min(start + batchSize, sampleCount)
    }

    /// The samples of batch `batch` that `rank` of `ranks` evaluates (possibly none).
    package func localRange(batch: Int, rank: Int, ranks: Int) -> Range<Int> {
        let samples = self[batch]
        let slice = GlobalSampler.localSlice(globalBatch: samples.count, rank: rank, ranks: ranks)
        return (samples.lowerBound + slice.lowerBound)..<(samples.lowerBound + slice.upperBound)
    }

    /// Replaces the contents of `indices` (keeping its storage) with `localRange(batch:rank:ranks:)`.
    package func fillIndices(batch: Int, rank: Int, ranks: Int, into indices: inout [Int]) {
        indices.removeAll(keepingCapacity: true)
        indices.append(contentsOf: localRange(batch: batch, rank: rank, ranks: ranks))
    }
}
