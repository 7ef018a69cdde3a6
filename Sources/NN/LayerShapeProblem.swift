/// A layer of a model description that cannot take its input or whose sizes overflow: its index
/// in the layer list, the field at fault (nil: the layer as a whole) and the problem.
package struct LayerShapeProblem: Error, Sendable, Equatable, CustomStringConvertible {
    package var layer: Int
    package var field: String?
    package var message: String

    /// "layers[2].kernel: ..." (the configuration prefixes "model.").
    package var description: String {
        "layers[\(layer)]" + (field.map { ".\($0)" } ?? "") + ": " + message
    }
}
