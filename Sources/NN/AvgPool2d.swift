import Linalg

/// Average pooling over square windows without padding, per channel:
///
///     y[c, oy, ox] = Σ_{i, j < k} x[c, oy s + i, ox s + j] / k²
///     dx[c, oy s + i, ox s + j] += dy[c, oy, ox] / k²
///
/// Samples are spread over the cores; each is computed alone.
package final class AvgPool2d<Scalar: LinalgScalar>: Pooling2d {
    package let kernel: Int
    package let stride: Int

    package var kind: String { "avgpool" }

    private var window = SlidingWindow()

    /// Windows of `kernel` x `kernel` every `stride` pixels (`kernel` when nil: no overlap).
    package init(kernel: Int, stride: Int? = nil) {
        self.stride = Self.checkedStride(layer: "AvgPool2d", kernel: kernel, stride: stride)
        self.kernel = kernel
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        window = checkedAtBind("AvgPool2d") { try slidingWindow(for: inputShape) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let window = self.window
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(input.count >= batch * inputCount && output.count >= batch * outputCount,
                     "AvgPool2d.forward: buffers too small for batch \(batch)")
        let reciprocalArea = 1 / Scalar(kernel * kernel)
        ParallelLoop.forEach(count: batch) { sample, _ in
            let image = input.baseAddress! + sample * inputCount
            let y = output.baseAddress! + sample * outputCount
            window.forEachWindow { outputIndex, corner in
                var sum: Scalar = 0
                window.forEachElement(ofWindowAt: corner) { index in sum += image[index] }
                y[outputIndex] = sum * reciprocalArea
            }
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, outputGradient: UnsafeBufferPointer<Scalar>,
        into inputGradient: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext
    ) {
        let window = self.window
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(inputGradient.count >= batch * inputCount, "AvgPool2d.backward: input gradient too small for batch \(batch)")
        let reciprocalArea = 1 / Scalar(kernel * kernel)
        let dx = inputGradient.baseAddress!
        ParallelLoop.forEach(count: batch) { sample, _ in
            let dy = outputGradient.baseAddress! + sample * outputCount
            let sampleGradient = dx + sample * inputCount
            sampleGradient.update(repeating: 0, count: inputCount)
            window.forEachWindow { outputIndex, corner in
                let share = dy[outputIndex] * reciprocalArea
                window.forEachElement(ofWindowAt: corner) { index in sampleGradient[index] += share }
            }
        }
    }
}
