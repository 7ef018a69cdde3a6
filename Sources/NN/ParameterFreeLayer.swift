import Linalg

/// A layer without parameters (activations, pooling, dropout, flatten): its backward only
/// propagates the gradient to its input, so there is nothing to do when the input gradient is
/// not wanted (the first layer of a model).
package protocol ParameterFreeLayer: Layer {
    /// Writes (overwrites) the gradient with respect to the input of `batch` samples, from the
    /// gradient with respect to the output of the forward of the same `input` and `context`.
    func backward(
        input: UnsafeBufferPointer<Scalar>, outputGradient: UnsafeBufferPointer<Scalar>,
        into inputGradient: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext)
}

extension ParameterFreeLayer {
    /// No parameters.
    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] { [] }

    /// Nothing to initialise.
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {}

    /// The input gradient when it is wanted; nothing otherwise.
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let inputGradient else { return }
        backward(input: input, outputGradient: outputGradient, into: inputGradient, batch: batch, context: context)
    }
}
