import Linalg

/// One layer of a model with an explicit forward and backward pass over flat buffers (llm.c
/// style): it owns no parameters itself but addresses its tensors in a `ParameterStore`, and
/// allocates all the scratch it needs when bound, for the largest batch.
///
/// Activations are batch-major: sample b's per-sample tensor is contiguous at
/// `b * perSampleCount`; images are [channels, height, width], row-major.
///
/// A layer instance belongs to one model. `backward` uses what the preceding `forward` of the
/// same batch kept (argmax indices, dropout masks, statistics), so calls pair up forward, then
/// backward, with the same input and context.
package protocol Layer<Scalar>: AnyObject {
    associatedtype Scalar: LinalgScalar

    /// The layer's kind as configs and parameter names spell it ("linear", "conv2d", ...).
    var kind: String { get }

    /// The per-sample output shape for a per-sample input shape (e.g. [1, 28, 28] -> [32, 28, 28]);
    /// a shape the layer cannot take is an error naming the layer and why.
    func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int]

    /// The layer's parameter tensors for `inputShape`, named by suffix ("weight", "bias",
    /// "scale", "shift"); empty for a layer without parameters.
    func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])]

    /// Remembers where the layer's tensors live (`parameterIndices` lists them in the order of
    /// `parameterShapes`) and allocates scratch for batches of up to `maxBatch` samples.
    func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int)

    /// Sets the layer's parameters to their initial values (PyTorch's defaults), drawing from
    /// `generator` in a fixed order.
    func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator)

    /// Writes the output of `batch` samples.
    func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext)

    /// Adds the gradients of the layer's parameters to the store's gradients (+=), and writes
    /// (overwrites) the gradient with respect to the input when `inputGradient` is non-nil.
    func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext)
}

/// The number of elements of a per-sample tensor of `shape`.
func elementCount(_ shape: [Int]) -> Int {
    shape.reduce(1, *)
}

/// The result of a shape check that the model has already passed (it calls `outputShape(for:)`
/// before `bind`), for a layer's `bind`: a failure here is a programming error, reported as
/// "<layer>.bind: <error>".
func checkedAtBind<Value>(_ layer: String, _ check: () throws -> Value) -> Value {
    do {
        return try check()
    } catch {
        preconditionFailure("\(layer).bind: \(error)")
    }
}

/// Fills `tensor` with independent uniform samples in `[-bound, bound)`, drawn in Double from the
/// generator's 53-bit outputs so Float and Double models start from the same values (rounded).
func fillUniform<Scalar: LinalgScalar>(
    _ tensor: UnsafeMutableBufferPointer<Scalar>, bound: Double, using generator: inout SeededGenerator
) {
    for index in tensor.indices {
        let unit = Double(generator.next() >> 11) * 0x1.0p-53
        tensor[index] = Scalar((2 * unit - 1) * bound)
    }
}

/// Copies `count` elements (the identity layers' forward and backward).
@inline(__always)
func copyElements<Scalar>(from source: UnsafeBufferPointer<Scalar>, to destination: UnsafeMutableBufferPointer<Scalar>, count: Int) {
    precondition(source.count >= count && destination.count >= count, "copy of \(count) elements between buffers of \(source.count) and \(destination.count)")
    destination.baseAddress!.update(from: source.baseAddress!, count: count)
}
