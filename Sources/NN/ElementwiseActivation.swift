import Linalg

/// A scalar function that an `ElementwiseActivation` layer applies to every element: its forward
/// and backward kernels over flat buffers, which the layer calls once per pass.
package protocol ActivationFunction {
    associatedtype Scalar: LinalgScalar

    /// The layer's kind as configs and parameter names spell it ("relu", "gelu").
    static var kind: String { get }
    /// The layer's name in failure messages ("ReLU", "GELU").
    static var name: String { get }

    /// Writes `y_i = f(x_i)` for the first `count` elements.
    static func forward(input x: UnsafePointer<Scalar>, output y: UnsafeMutablePointer<Scalar>, count: Int)

    /// Writes (overwrites) `dx_i = dy_i f'(x_i)` for the first `count` elements.
    static func backward(
        input x: UnsafePointer<Scalar>, outputGradient dy: UnsafePointer<Scalar>,
        inputGradient dx: UnsafeMutablePointer<Scalar>, count: Int)
}

/// A layer that applies one scalar function to every element of its input (ReLU, GELU), keeping
/// the per-sample shape:
///
///     y_i = f(x_i),   dx_i = dy_i f'(x_i)
package final class ElementwiseActivation<Function: ActivationFunction>: ParameterFreeLayer {
    package typealias Scalar = Function.Scalar

    package var kind: String { Function.kind }

    private var count = 0

    package init() {}

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] { inputShape }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        count = elementCount(inputShape)
    }

    @_specialize(where Function == ReLUFunction<Float>)
    @_specialize(where Function == ReLUFunction<Double>)
    @_specialize(where Function == GELUFunction<Float>)
    @_specialize(where Function == GELUFunction<Double>)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let total = batch * count
        precondition(input.count >= total && output.count >= total, "\(Function.name).forward: buffers too small for batch \(batch)")
        let (x, y) = (input.baseAddress!, output.baseAddress!)
        ParallelLoop.forEachRange(count: total) { range in
            Function.forward(input: x + range.lowerBound, output: y + range.lowerBound, count: range.count)
        }
    }

    @_specialize(where Function == ReLUFunction<Float>)
    @_specialize(where Function == ReLUFunction<Double>)
    @_specialize(where Function == GELUFunction<Float>)
    @_specialize(where Function == GELUFunction<Double>)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, outputGradient: UnsafeBufferPointer<Scalar>,
        into inputGradient: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext
    ) {
        let total = batch * count
        precondition(inputGradient.count >= total, "\(Function.name).backward: input gradient too small for batch \(batch)")
        let (x, dy, dx) = (input.baseAddress!, outputGradient.baseAddress!, inputGradient.baseAddress!)
        ParallelLoop.forEachRange(count: total) { range in
            Function.backward(
                input: x + range.lowerBound, outputGradient: dy + range.lowerBound,
                inputGradient: dx + range.lowerBound, count: range.count)
        }
    }
}
