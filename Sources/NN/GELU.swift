import Linalg

/// The Gaussian error linear unit in its tanh approximation (as GPT-2 and PyTorch's
/// `approximate="tanh"`), elementwise:
///
///     y     = x/2 (1 + tanh(u)),   u = c (x + 0.044715 x³),   c = sqrt(2/π)
///
/// computed as `y = x σ(2u)` with the logistic `σ(v) = 1/(1 + e^-v)`, the same function
/// (`(1 + tanh(u))/2 = σ(2u)`) for one `exp` instead of a slower `tanh`, without cancellation;
/// with `s = σ(2u)` the derivative is
///
///     dy/dx = s + 2 x s (1 - s) c (1 + 3 · 0.044715 x²)
public final class GELU<Scalar: LinalgScalar>: Layer {
    public var kind: String { "gelu" }

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
        precondition(input.count >= total && output.count >= total, "GELU.forward: buffers too small for batch \(batch)")
        let (x, y) = (input.baseAddress!, output.baseAddress!)
        let twiceC = 2 * Scalar.sqrt(2 / Scalar.pi)
        let cubic: Scalar = 0.044715
        for index in 0..<total {
            let value = x[index]
            y[index] = value / (1 + Scalar.exp(-twiceC * (value + cubic * value * value * value)))
        }
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
        precondition(inputGradient.count >= total, "GELU.backward: input gradient too small for batch \(batch)")
        let (x, dy, dx) = (input.baseAddress!, outputGradient.baseAddress!, inputGradient.baseAddress!)
        let twiceC = 2 * Scalar.sqrt(2 / Scalar.pi)
        let cubic: Scalar = 0.044715
        for index in 0..<total {
            let value = x[index]
            let square = value * value
            let s = 1 / (1 + Scalar.exp(-twiceC * (value + cubic * square * value)))
            dx[index] = dy[index] * (s + value * s * (1 - s) * twiceC * (1 + 3 * cubic * square))
        }
    }
}
