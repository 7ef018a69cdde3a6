import Linalg

/// The rectifier, `y = max(x, 0)`, elementwise; `dx = dy · [x > 0]` (the gradient at 0 is 0).
public final class ReLU<Scalar: LinalgScalar>: Layer {
    public var kind: String { "relu" }

    private var count = 0

    public init() {}

    public func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] { inputShape }

    public func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        count = elementCount(inputShape)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let total = batch * count
        precondition(input.count >= total && output.count >= total, "ReLU.forward: buffers too small for batch \(batch)")
        let (x, y) = (input.baseAddress!, output.baseAddress!)
        for index in 0..<total { y[index] = x[index] > 0 ? x[index] : 0 }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let inputGradient else { return }
        let total = batch * count
        precondition(inputGradient.count >= total, "ReLU.backward: input gradient too small for batch \(batch)")
        let (x, dy, dx) = (input.baseAddress!, outputGradient.baseAddress!, inputGradient.baseAddress!)
        for index in 0..<total {
            let gradient = dy[index]
            dx[index] = x[index] > 0 ? gradient : 0
        }
    }
}
