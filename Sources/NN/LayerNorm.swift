import Linalg

/// Layer normalisation over the WHOLE per-sample tensor (all its n elements, not only the last
/// dimension), or with scope `.token` over each vector of the last dimension (n = C, the same
/// scale and shift for every token), with a learned elementwise scale and shift of size n (1-D
/// tensors, so optimizers treat them as vectors). Per row of n elements:
///
///     mean = Σ x_i / n,   var = Σ (x_i - mean)² / n,   r = 1/sqrt(var + ε)
///     x̂_i = (x_i - mean) r,   y_i = scale_i x̂_i + shift_i
///
///     backward, with g_i = scale_i dy_i:
///     dscale_i += dy_i x̂_i,   dshift_i += dy_i,   dx_i = r (g_i - mean(g) - x̂_i mean(g ⊙ x̂))
///
/// The per-row mean and r of the last forward are kept for the backward.
package final class LayerNorm<Scalar: LinalgScalar>: Layer {
    /// Added to the variance before the square root.
    package let epsilon: Double

    /// Whether a row is the whole sample or one token.
    package let scope: LayerScope

    package var kind: String { "layernorm" }

    /// Elements of one row (n).
    private var count = 0
    private var rowsPerSample = 1
    private var scale: BoundTensor<Scalar>?
    private var shift: BoundTensor<Scalar>?
    private var means = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var reciprocalDeviations = ScratchBuffer<Scalar>(count: 0, initialValue: 0)

    package init(epsilon: Double = 1e-5, over scope: LayerScope = .sample) {
        precondition(epsilon > 0 && epsilon.isFinite, "LayerNorm: epsilon must be > 0, got \(epsilon)")
        self.epsilon = epsilon
        self.scope = scope
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] { inputShape }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        let count = scope.rows(of: inputShape).width
        return [("scale", [count]), ("shift", [count])]
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        (scale, shift) = store.boundPair(at: parameterIndices, layer: "LayerNorm")
        (rowsPerSample, count) = scope.rows(of: inputShape)
        means = ScratchBuffer(count: maxBatch * rowsPerSample, initialValue: 0)
        reciprocalDeviations = ScratchBuffer(count: maxBatch * rowsPerSample, initialValue: 0)
    }

    /// Scale 1, shift 0 (PyTorch's default); draws nothing.
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {
        guard let scale, let shift else { preconditionFailure("LayerNorm.initialize before bind") }
        store.values(at: scale.index).update(repeating: 1)
        store.values(at: shift.index).update(repeating: 0)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let scale, let shift else { preconditionFailure("LayerNorm.forward before bind") }
        let rows = batch * rowsPerSample
        precondition(rows <= means.buffer.count, "LayerNorm.forward: batch \(batch) exceeds maxBatch \(means.buffer.count / rowsPerSample)")
        precondition(input.count >= rows * count && output.count >= rows * count, "LayerNorm.forward: buffers too small for batch \(batch)")
        let (gamma, beta, count) = (scale.values, shift.values, self.count)
        let epsilon = Scalar(self.epsilon)
        let size = Scalar(count)
        for row in 0..<rows {
            let x = input.baseAddress! + row * count
            let y = output.baseAddress! + row * count
            var sum: Scalar = 0
            for index in 0..<count { sum += x[index] }
            let mean = sum / size
            var squares: Scalar = 0
            for index in 0..<count {
                let centred = x[index] - mean
                squares += centred * centred
            }
            let r = 1 / Scalar.sqrt(squares / size + epsilon)
            means.base[row] = mean
            reciprocalDeviations.base[row] = r
            for index in 0..<count { y[index] = (x[index] - mean) * r * gamma[index] + beta[index] }
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let scale, let shift else { preconditionFailure("LayerNorm.backward before bind") }
        let (gamma, dgamma, dbeta, count) = (scale.values, scale.gradients, shift.gradients, self.count)
        let size = Scalar(count)
        let rows = batch * rowsPerSample
        precondition(rows <= means.buffer.count, "LayerNorm.backward: batch \(batch) exceeds maxBatch \(means.buffer.count / rowsPerSample)")
        precondition(input.count >= rows * count && outputGradient.count >= rows * count, "LayerNorm.backward: buffers too small for batch \(batch)")
        if let inputGradient {
            precondition(inputGradient.count >= rows * count, "LayerNorm.backward: input gradient too small for batch \(batch)")
        }
        for row in 0..<rows {
            let x = input.baseAddress! + row * count
            let dy = outputGradient.baseAddress! + row * count
            let (mean, r) = (means.base[row], reciprocalDeviations.base[row])
            var gradientSum: Scalar = 0
            var projectedSum: Scalar = 0
            for index in 0..<count {
                let normalized = (x[index] - mean) * r
                let g = gamma[index] * dy[index]
                gradientSum += g
                projectedSum += g * normalized
                dgamma[index] += dy[index] * normalized
                dbeta[index] += dy[index]
            }
            guard let inputGradient else { continue }
            let dx = inputGradient.baseAddress! + row * count
            let (meanGradient, meanProjection) = (gradientSum / size, projectedSum / size)
            for index in 0..<count {
                let normalized = (x[index] - mean) * r
                dx[index] = r * (gamma[index] * dy[index] - meanGradient - normalized * meanProjection)
            }
        }
    }
}
