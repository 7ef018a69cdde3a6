/// Saved state tensors by name, read back with the shape and type the restoring code expects
/// (of tensors with equal names, the first counts).
public struct SavedState: Sendable {
    private let tensors: [String: NamedTensor]

    /// The state `tensors` hold, by name.
    public init(_ tensors: [NamedTensor]) {
        self.tensors = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The values of the Float32 tensor `name`, which must have `shape` (converted exactly to
    /// `Float`). A bfloat16 tensor is read too, widened exactly: state saved in either precision
    /// resumes in either.
    public func floats<Scalar: LinalgScalar>(_ name: String, shape: [Int]) throws(SavedStateError) -> [Scalar] {
        guard let tensor = tensors[name] else { throw SavedStateError("optimizer state '\(name)' is missing") }
        guard tensor.shape == shape, let values = tensor.floats else {
            throw SavedStateError("optimizer state '\(name)' is \(tensor.shape) \(tensor.typeName), expected \(shape) Float32")
        }
        return values.map { Scalar($0) }
    }

    /// Whether a tensor `name` was saved (for state added in a later version).
    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    /// The values of the Int64 tensor `name`, which must hold `count` of them.
    public func integers(_ name: String, count: Int) throws(SavedStateError) -> [Int64] {
        guard let tensor = tensors[name] else { throw SavedStateError("optimizer state '\(name)' is missing") }
        guard tensor.shape == [count], let values = tensor.integers else {
            throw SavedStateError("optimizer state '\(name)' is \(tensor.shape) \(tensor.typeName), expected [\(count)] Int64")
        }
        return values
    }
}

/// Saved state that cannot be restored: a tensor missing or of the wrong shape or type, or
/// values the state cannot hold. The message names the tensor, relative to its parameter.
public struct SavedStateError: Error, CustomStringConvertible, Equatable {
    /// What cannot be restored, in one line naming the tensor.
    public var message: String

    /// An error reading `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
