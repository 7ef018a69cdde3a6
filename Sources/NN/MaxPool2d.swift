import Linalg

/// Max pooling over square windows without padding, per channel:
///
///     y[c, oy, ox] = max_{i, j < k} x[c, oy s + i, ox s + j]
///     dx[a] = Σ dy[o] over the outputs o whose window maximum is at input position a
///
/// The position of each maximum (the first in row-major window order on ties) is kept by the
/// forward for the backward. Samples are spread over the cores; each is computed alone, so the
/// values do not depend on their number.
package final class MaxPool2d<Scalar: LinalgScalar>: Pooling2d {
    package let kernel: Int
    package let stride: Int

    package var kind: String { "maxpool" }

    private var window = SlidingWindow()
    private var maximumPositions = ScratchBuffer<Int32>(count: 0, initialValue: 0)

    /// Windows of `kernel` x `kernel` every `stride` pixels (`kernel` when nil: no overlap).
    package init(kernel: Int, stride: Int? = nil) {
        self.stride = Self.checkedStride(layer: "MaxPool2d", kernel: kernel, stride: stride)
        self.kernel = kernel
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        window = checkedAtBind("MaxPool2d") { try slidingWindow(for: inputShape) }
        precondition(window.inputCount <= Int(Int32.max), "MaxPool2d.bind: \(window.inputCount) input elements exceed Int32 positions")
        maximumPositions = ScratchBuffer(count: maxBatch * window.channels * window.outputPlane, initialValue: 0)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let window = self.window
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(input.count >= batch * inputCount && output.count >= batch * outputCount
                     && maximumPositions.buffer.count >= batch * outputCount,
                     "MaxPool2d.forward: batch \(batch) exceeds the buffers bound for")
        let maximumPositions = self.maximumPositions.base
        ParallelLoop.forEach(count: batch) { sample, _ in
            let image = input.baseAddress! + sample * inputCount
            let y = output.baseAddress! + sample * outputCount
            let positions = maximumPositions + sample * outputCount
            window.forEachWindow { outputIndex, corner in
                var best = corner
                var maximum = image[corner]
                window.forEachElement(ofWindowAt: corner) { index in
                    let value = image[index]
                    let larger = value > maximum
                    maximum = larger ? value : maximum
                    best = larger ? index : best
                }
                y[outputIndex] = maximum
                positions[outputIndex] = Int32(truncatingIfNeeded: best)
            }
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, outputGradient: UnsafeBufferPointer<Scalar>,
        into inputGradient: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext
    ) {
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(inputGradient.count >= batch * inputCount, "MaxPool2d.backward: input gradient too small for batch \(batch)")
        let (dx, maximumPositions) = (inputGradient.baseAddress!, self.maximumPositions.base)
        ParallelLoop.forEach(count: batch) { sample, _ in
            let dy = outputGradient.baseAddress! + sample * outputCount
            let positions = maximumPositions + sample * outputCount
            let sampleGradient = dx + sample * inputCount
            sampleGradient.update(repeating: 0, count: inputCount)
            for index in 0..<outputCount { sampleGradient[Int(positions[index])] += dy[index] }
        }
    }
}
