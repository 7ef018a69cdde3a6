/// A model that cannot be built as described: a layer that cannot take its input shape, or an
/// unusable model input shape or batch size. Each message is one line naming the layer.
package enum ModelError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The layer (its kind, or its parameter prefix such as "2_conv2d" once placed in a model)
    /// cannot take `inputShape`, for `reason`.
    case incompatibleInput(layer: String, inputShape: [Int], reason: String)
    /// The model's per-sample input shape is empty or has a dimension below 1.
    case invalidInputShape([Int])
    /// The largest batch the model is built for is below 1.
    case invalidMaxBatch(Int)
    /// The model has no layers.
    case noLayers

    package var description: String {
        switch self {
        case .incompatibleInput(let layer, let inputShape, let reason):
            return "layer \(layer): input shape \(inputShape): \(reason)"
        case .invalidInputShape(let shape):
            return "model input shape \(shape) must have at least one dimension, each at least 1"
        case .invalidMaxBatch(let maxBatch):
            return "maxBatch must be at least 1, got \(maxBatch)"
        case .noLayers:
            return "a model needs at least one layer"
        }
    }

    /// The same error with the layer named by `layer` (the model renames a layer's kind to its
    /// position, e.g. "conv2d" to "2_conv2d").
    func renamingLayer(to layer: String) -> ModelError {
        guard case .incompatibleInput(_, let inputShape, let reason) = self else { return self }
        return .incompatibleInput(layer: layer, inputShape: inputShape, reason: reason)
    }
}
