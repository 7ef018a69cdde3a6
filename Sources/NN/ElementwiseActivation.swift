import Linalg

/// A scalar function that an `ElementwiseActivation` layer applies to every element: its forward
/// and backward kernels over flat buffers, which the layer calls once per pass.
package protocol ActivationFunction {
    associatedtype Scalar: LinalgScalar

    /// The layer's kind as configs and parameter names spell it ("relu", "gelu").
    static var kind: String { get }
    /// The layer's name in failure messages ("ReLU", "GELU").
    static var name: String { get }

    /// Whether a training forward keeps `f'(x_i)` for the backward: for a function whose
    /// derivative costs about as much as its value (GELU's exponential and division), the
    /// backward is then one product per element instead of a second evaluation.
    static var keepsDerivative: Bool { get }

    /// Writes `y_i = f(x_i)` for the first `count` elements, and `f'(x_i)` to `derivative` when
    /// it is given (only if `keepsDerivative`).
    static func forward(
        input x: UnsafePointer<Scalar>, output y: UnsafeMutablePointer<Scalar>, derivative: UnsafeMutablePointer<Scalar>?, count: Int)

    /// Writes (overwrites) `dx_i = dy_i f'(x_i)` for the first `count` elements, with `f'(x_i)`
    /// computed as the forward computes it, so the result has the bits of `dy_i` times the kept
    /// derivative.
    static func backward(
        input x: UnsafePointer<Scalar>, outputGradient dy: UnsafePointer<Scalar>,
        inputGradient dx: UnsafeMutablePointer<Scalar>, count: Int)
}

/// A layer that applies one scalar function to every element of its input (ReLU, GELU), keeping
/// the per-sample shape:
///
///     y_i = f(x_i),   dx_i = dy_i f'(x_i)
///
/// If the function `keepsDerivative`, a training forward also writes `f'(x_i)` to scratch
/// allocated at bind for the largest batch, and the backward of that batch multiplies by it.
package final class ElementwiseActivation<Function: ActivationFunction>: ParameterFreeLayer {
    package typealias Scalar = Function.Scalar

    package var kind: String { Function.kind }

    private var count = 0
    /// `f'(x_i)` of the last training forward, if the function keeps it.
    private var derivatives = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// The batch size of the forward whose derivatives `derivatives` holds; nil when it holds none.
    private var derivativeBatch: Int?

    package init() {}

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] { inputShape }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        count = elementCount(inputShape)
        derivatives = ScratchBuffer(count: Function.keepsDerivative ? maxBatch * count : 0, initialValue: 0)
        derivativeBatch = nil
    }

    @_specialize(where Function == ReLUFunction<Float>)
    @_specialize(where Function == ReLUFunction<Double>)
    @_specialize(where Function == GELUFunction<Float>)
    @_specialize(where Function == GELUFunction<Double>)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let total = batch * count
        precondition(input.count >= total && output.count >= total, "\(Function.name).forward: buffers too small for batch \(batch)")
        let (x, y) = (input.baseAddress!, output.baseAddress!)
        let keep = Function.keepsDerivative && context.training
        precondition(!keep || total <= derivatives.buffer.count, "\(Function.name).forward: batch \(batch) exceeds maxBatch")
        let derivative = keep ? derivatives.base : nil
        ParallelLoop.forEachRange(count: total) { range in
            Function.forward(
                input: x + range.lowerBound, output: y + range.lowerBound, derivative: derivative.map { $0 + range.lowerBound },
                count: range.count)
        }
        derivativeBatch = keep ? batch : nil
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
        if derivativeBatch == batch {
            let derivative = derivatives.base
            ParallelLoop.forEachRange(count: total) { range in
                for index in range { dx[index] = dy[index] * derivative[index] }
            }
            return
        }
        ParallelLoop.forEachRange(count: total) { range in
            Function.backward(
                input: x + range.lowerBound, outputGradient: dy + range.lowerBound,
                inputGradient: dx + range.lowerBound, count: range.count)
        }
    }
}
