/// A layer that reads and trains the weight of the model's first token embedding instead of a
/// tensor of its own (weight tying, as GPT-2's output head), so both uses accumulate their
/// gradients into one tensor and the parameter count holds it once.
///
/// `Sequential` ties it before resolving its shapes; without an earlier embedding the model is
/// a `ModelError` naming the layer.
package protocol EmbeddingTiedLayer<Scalar>: Layer {
    /// Records that the embedding weight, shaped `shape` ([V, C]), is tensor `index` of the store
    /// the layer will be bound to.
    func tie(toEmbeddingWeight index: Int, shape: [Int])
}
