import Linalg
import Support

/// One stage of an optimizer for one tensor, optax style: it transforms the update direction
/// (which starts as the gradient) and keeps its own explicit state.
///
/// Stages are chained (`Optimizer` builds the chain from the configuration): for example
/// preconditioning -> grafting -> momentum. Each instance belongs to one tensor.
public protocol TensorTransform: AnyObject {
    /// Transforms `direction` in place. `gradient` is the tensor's reduced gradient, unmodified.
    func apply(direction: inout Matrix<Float>, gradient: Matrix<Float>, step: Int, timings: inout OptimizerTimings) throws(OptimizerError)
    /// The state, as named tensors (empty for stateless stages).
    func stateTensors() -> [NamedTensor]
    /// Restores the state saved by `stateTensors()`; shapes must match.
    func restore(_ tensors: [String: NamedTensor]) throws(OptimizerError)
}

extension TensorTransform {
    /// Looks up a Float32 state tensor, checking its shape.
    func required(_ name: String, shape: [Int], in tensors: [String: NamedTensor], owner: String) throws(OptimizerError) -> [Float] {
        guard let tensor = tensors[name] else { throw OptimizerError("\(owner): optimizer state '\(name)' is missing") }
        guard tensor.shape == shape, let values = tensor.floats else {
            throw OptimizerError("\(owner): optimizer state '\(name)' is \(tensor.shape) \(tensor.floats == nil ? "Int64" : "Float32"), expected \(shape) Float32")
        }
        return values
    }

    /// Looks up an Int64 state tensor of `count` values.
    func requiredIntegers(_ name: String, count: Int, in tensors: [String: NamedTensor], owner: String) throws(OptimizerError) -> [Int64] {
        guard let tensor = tensors[name] else { throw OptimizerError("\(owner): optimizer state '\(name)' is missing") }
        guard tensor.shape == [count], let values = tensor.integers else {
            throw OptimizerError("\(owner): optimizer state '\(name)' is \(tensor.shape) \(tensor.integers == nil ? "Float32" : "Int64"), expected [\(count)] Int64")
        }
        return values
    }
}

/// Measures the seconds `body` takes into `seconds`.
@inline(__always)
func timed<Result, Failure: Error>(_ seconds: inout Double, _ body: () throws(Failure) -> Result) throws(Failure) -> Result {
    let clock = ContinuousClock()
    let start = clock.now
    defer { seconds += start.duration(to: clock.now).inSeconds }
    return try body()
}
