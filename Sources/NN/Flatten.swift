import Linalg

/// Flattens the per-sample tensor to a vector ([c, h, w] -> [c h w]); the memory layout is
/// unchanged, so forward and backward are copies.
package final class Flatten<Scalar: LinalgScalar>: ParameterFreeLayer {
    package var kind: String { "flatten" }

    private var count = 0

    package init() {}

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] { [elementCount(inputShape)] }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        count = elementCount(inputShape)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        copyElements(from: input, to: output, count: batch * count)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, outputGradient: UnsafeBufferPointer<Scalar>,
        into inputGradient: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext
    ) {
        copyElements(from: outputGradient, to: inputGradient, count: batch * count)
    }
}
