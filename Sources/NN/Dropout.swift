import Linalg

/// Inverted dropout: in training each element is kept with probability 1 - rate and scaled by
/// 1/(1 - rate), so the expected output equals the input and inference is the identity.
///
///     m_i = [u_i >= rate] / (1 - rate),   y = m ⊙ x,   dx = m ⊙ dy
///
/// `u_i` comes from `DropoutNoise` keyed by (seed, step, the sample's global index, layer index,
/// element), so masks are reproducible and independent of how batches are formed. The mask of the
/// last training forward is kept for the backward.
package final class Dropout<Scalar: LinalgScalar>: ParameterFreeLayer {
    /// The probability of dropping an element, in [0, 1).
    package let rate: Double

    package var kind: String { "dropout" }

    private var count = 0
    private var mask = ScratchBuffer<Scalar>(count: 0, initialValue: 0)

    package init(rate: Double) {
        precondition(rate >= 0 && rate < 1, "Dropout: rate must be in [0, 1), got \(rate)")
        self.rate = rate
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] { inputShape }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        count = elementCount(inputShape)
        mask = ScratchBuffer(count: rate > 0 ? maxBatch * count : 0, initialValue: 0)
    }

    /// Whether a pass in `context` drops elements (training with a positive rate); otherwise
    /// the layer is the identity.
    private func drops(in context: ForwardContext) -> Bool {
        context.training && rate > 0
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let total = batch * count
        guard drops(in: context) else {
            copyElements(from: input, to: output, count: total)
            return
        }
        precondition(input.count >= total && output.count >= total && mask.buffer.count >= total,
                     "Dropout.forward: batch \(batch) exceeds the buffers bound for")
        precondition(context.sampleIndices.count == batch,
                     "Dropout in training needs the global index of each sample: \(context.sampleIndices.count) sample indices for a batch of \(batch)")
        let (x, y, m, count, rate) = (input.baseAddress!, output.baseAddress!, mask.base, self.count, self.rate)
        let keptScale = Scalar(1 / (1 - rate))
        for sample in 0..<batch {
            let key = DropoutNoise.streamKey(
                seed: context.seed, step: context.step, sample: context.sampleIndices[sample], layer: context.layerIndex)
            let offset = sample * count
            for element in 0..<count {
                m[offset + element] = DropoutNoise.uniform(key: key, element: element) >= rate ? keptScale : 0
            }
        }
        for index in 0..<total { y[index] = x[index] * m[index] }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, outputGradient: UnsafeBufferPointer<Scalar>,
        into inputGradient: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext
    ) {
        let total = batch * count
        guard drops(in: context) else {
            copyElements(from: outputGradient, to: inputGradient, count: total)
            return
        }
        precondition(inputGradient.count >= total, "Dropout.backward: input gradient too small for batch \(batch)")
        let (dy, dx, m) = (outputGradient.baseAddress!, inputGradient.baseAddress!, mask.base)
        for index in 0..<total { dx[index] = dy[index] * m[index] }
    }
}
