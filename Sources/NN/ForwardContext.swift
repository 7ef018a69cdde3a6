/// What a forward (and the matching backward) pass needs besides its data: whether it trains,
/// and the keys that make its randomness reproducible.
///
/// Randomness (dropout) is a pure function of (`seed`, `step`, the sample's global index,
/// `layerIndex`, element), so a batch split across processes, or a step replayed after a resume,
/// sees the same masks.
package struct ForwardContext: Sendable, Equatable {
    /// Training mode: dropout drops; otherwise every layer is deterministic.
    package var training: Bool
    /// The run's seed.
    package var seed: UInt64
    /// The optimisation step.
    package var step: Int
    /// The global dataset index of each sample in the batch, in batch order (may be empty in
    /// inference; training with dropout needs one per sample).
    package var sampleIndices: [Int]
    /// The position of the layer in its model; `Sequential` sets it for each layer.
    package var layerIndex: Int

    package init(training: Bool = false, seed: UInt64 = 0, step: Int = 0, sampleIndices: [Int] = [], layerIndex: Int = 0) {
        self.training = training
        self.seed = seed
        self.step = step
        self.sampleIndices = sampleIndices
        self.layerIndex = layerIndex
    }

    /// Inference: no randomness, no sample indices needed.
    package static let inference = ForwardContext()
}
