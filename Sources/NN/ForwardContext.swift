/// What a forward (and the matching backward) pass needs besides its data: whether it trains,
/// and the keys that make its randomness reproducible.
///
/// Randomness (dropout) is a pure function of (`seed`, `step`, the sample's global index,
/// `layerIndex`, element), so a batch split across processes, or a step replayed after a resume,
/// sees the same masks.
public struct ForwardContext: Sendable, Equatable {
    /// Training mode: dropout drops; otherwise every layer is deterministic.
    public var training: Bool
    /// The run's seed.
    public var seed: UInt64
    /// The optimisation step.
    public var step: Int
    /// The global dataset index of each sample in the batch, in batch order (may be empty in
    /// inference; training with dropout needs one per sample).
    public var sampleIndices: [Int]
    /// The position of the layer in its model; `Sequential` sets it for each layer.
    public var layerIndex: Int

    public init(training: Bool = false, seed: UInt64 = 0, step: Int = 0, sampleIndices: [Int] = [], layerIndex: Int = 0) {
        self.training = training
        self.seed = seed
        self.step = step
        self.sampleIndices = sampleIndices
        self.layerIndex = layerIndex
    }

    /// Inference: no randomness, no sample indices needed.
    public static let inference = ForwardContext()
}
