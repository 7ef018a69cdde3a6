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
/// The per-row mean and r of the last forward are kept for the backward. Rows are handled in
/// chunks of a fixed size spread over the cores, the row sums in eight SIMD lanes, and the scale
/// and shift gradients summed per chunk, then over the chunks in chunk order: results do not
/// depend on the number of cores.
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
    /// Elements per chunk of rows (at least one row per chunk).
    private let chunkElements: Int
    /// Rows per chunk.
    private var chunkRows = 1
    /// Per chunk: its part of the scale gradient, then of the shift gradient (2 n each).
    private var parameterGradientParts = ScratchBuffer<Scalar>(count: 0, initialValue: 0)

    /// `chunkElements`: how much of the batch one core takes at a time (16K elements keep a
    /// chunk in cache; tests pass small values to cover many chunks with small tensors).
    package init(epsilon: Double = 1e-5, over scope: LayerScope = .sample, chunkElements: Int = 16_384) {
        precondition(epsilon > 0 && epsilon.isFinite, "LayerNorm: epsilon must be > 0, got \(epsilon)")
        precondition(chunkElements >= 1, "LayerNorm: chunkElements must be at least 1, got \(chunkElements)")
        self.epsilon = epsilon
        self.scope = scope
        self.chunkElements = chunkElements
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
        chunkRows = max(1, chunkElements / count)
        let chunks = ParallelLoop.chunkCount(maxBatch * rowsPerSample, size: chunkRows)
        parameterGradientParts = ScratchBuffer(count: chunks * 2 * count, initialValue: 0)
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
        let (means, reciprocalDeviations) = (self.means.base, self.reciprocalDeviations.base)
        ParallelLoop.forEachChunk(count: rows, size: chunkRows) { _, rowRange, _ in
            for row in rowRange {
                let x = input.baseAddress! + row * count
                let y = output.baseAddress! + row * count
                let mean = VectorKernels.sum(x, count: count) / size
                let r = 1 / Scalar.sqrt(VectorKernels.sumOfSquares(x, count: count, minus: mean) / size + epsilon)
                means[row] = mean
                reciprocalDeviations[row] = r
                for index in 0..<count { y[index] = (x[index] - mean) * r * gamma[index] + beta[index] }
            }
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
        let parts = parameterGradientParts.base
        let (means, reciprocalDeviations) = (self.means.base, self.reciprocalDeviations.base)
        ParallelLoop.forEachChunk(count: rows, size: chunkRows) { chunk, rowRange, _ in
            let (scaleGradient, shiftGradient) = (parts + 2 * chunk * count, parts + (2 * chunk + 1) * count)
            scaleGradient.update(repeating: 0, count: 2 * count)
            for row in rowRange {
                let x = input.baseAddress! + row * count
                let dy = outputGradient.baseAddress! + row * count
                let (mean, r) = (means[row], reciprocalDeviations[row])
                var (gradientLanes, projectedLanes) = (SIMD8<Scalar>(repeating: 0), SIMD8<Scalar>(repeating: 0))
                let (means8, r8) = (SIMD8<Scalar>(repeating: mean), SIMD8<Scalar>(repeating: r))
                var index = 0
                while index + 8 <= count {
                    let normalized = (SIMD8(load: x + index) - means8) * r8
                    let gradient = SIMD8(load: dy + index)
                    let g = SIMD8(load: gamma + index) * gradient
                    gradientLanes += g
                    projectedLanes += g * normalized
                    (SIMD8(load: scaleGradient + index) + gradient * normalized).store(to: scaleGradient + index)
                    (SIMD8(load: shiftGradient + index) + gradient).store(to: shiftGradient + index)
                    index += 8
                }
                var (gradientSum, projectedSum) = (gradientLanes.sum(), projectedLanes.sum())
                while index < count {
                    let normalized = (x[index] - mean) * r
                    let g = gamma[index] * dy[index]
                    gradientSum += g
                    projectedSum += g * normalized
                    scaleGradient[index] += dy[index] * normalized
                    shiftGradient[index] += dy[index]
                    index += 1
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
        // The chunks' parts, in chunk order.
        for chunk in 0..<ParallelLoop.chunkCount(rows, size: chunkRows) {
            let (scaleGradient, shiftGradient) = (parts + 2 * chunk * count, parts + (2 * chunk + 1) * count)
            for index in 0..<count {
                dgamma[index] += scaleGradient[index]
                dbeta[index] += shiftGradient[index]
            }
        }
    }
}

extension SIMD8 {
    /// The eight elements from `pointer` (no alignment needed).
    @inline(__always)
    init(load pointer: UnsafePointer<Scalar>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: Self.self)
    }

    /// Writes the eight elements from `pointer` on (no alignment needed).
    @inline(__always)
    func store(to pointer: UnsafeMutablePointer<Scalar>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: Self.self)
    }
}
