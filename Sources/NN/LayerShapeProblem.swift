/// A layer of a model description that cannot take its input or whose sizes overflow: its index
/// in the layer list, the field at fault (nil: the layer as a whole) and the problem.
public struct LayerShapeProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var layer: Int
    public var field: String?
    public var message: String

    /// "layers[2].kernel: ..." (the configuration prefixes "model.").
    public var description: String {
        "layers[\(layer)]" + (field.map { ".\($0)" } ?? "") + ": " + message
    }
}
