import Linalg

/// Max pooling over square windows without padding, per channel:
///
///     y[c, oy, ox] = max_{i, j < k} x[c, oy s + i, ox s + j]
///     dx[a] = Σ dy[o] over the outputs o whose window maximum is at input position a
///
/// The position of each maximum (the first in row-major window order on ties) is kept by the
/// forward for the backward.
public final class MaxPool2d<Scalar: LinalgScalar>: Layer {
    /// Window height and width.
    public let kernel: Int
    /// Step between windows.
    public let stride: Int

    public var kind: String { "maxpool" }

    private var window = SlidingWindow()
    private var maximumPositions = ScratchBuffer<Int32>(count: 0, initialValue: 0)

    /// Windows of `kernel` x `kernel` every `stride` pixels (`kernel` when nil: no overlap).
    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel >= 1, "MaxPool2d: kernel must be at least 1, got \(kernel)")
        precondition((stride ?? kernel) >= 1, "MaxPool2d: stride must be at least 1, got \(stride ?? kernel)")
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        let window = try SlidingWindow(layer: kind, inputShape: inputShape, kernel: kernel, stride: stride, padding: 0)
        return [window.channels, window.outputHeight, window.outputWidth]
    }

    public func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        do {
            window = try SlidingWindow(layer: kind, inputShape: inputShape, kernel: kernel, stride: stride, padding: 0)
        } catch {
            preconditionFailure("MaxPool2d.bind: \(error)")
        }
        precondition(window.inputCount <= Int(Int32.max), "MaxPool2d.bind: \(window.inputCount) input elements exceed Int32 positions")
        maximumPositions = ScratchBuffer(count: maxBatch * window.channels * window.outputPlane, initialValue: 0)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let window = self.window
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(input.count >= batch * inputCount && output.count >= batch * outputCount
                     && maximumPositions.buffer.count >= batch * outputCount,
                     "MaxPool2d.forward: batch \(batch) exceeds the buffers bound for")
        for sample in 0..<batch {
            let image = input.baseAddress! + sample * inputCount
            let y = output.baseAddress! + sample * outputCount
            let positions = maximumPositions.base + sample * outputCount
            var outputIndex = 0
            for channel in 0..<window.channels {
                let channelStart = channel * window.height * window.width
                for outputRow in 0..<window.outputHeight {
                    for outputColumn in 0..<window.outputWidth {
                        let corner = channelStart + outputRow * stride * window.width + outputColumn * stride
                        var best = corner
                        var maximum = image[corner]
                        for kernelRow in 0..<kernel {
                            let rowStart = corner + kernelRow * window.width
                            for kernelColumn in 0..<kernel {
                                let value = image[rowStart + kernelColumn]
                                let larger = value > maximum
                                maximum = larger ? value : maximum
                                best = larger ? rowStart + kernelColumn : best
                            }
                        }
                        y[outputIndex] = maximum
                        positions[outputIndex] = Int32(truncatingIfNeeded: best)
                        outputIndex += 1
                    }
                }
            }
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
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(inputGradient.count >= batch * inputCount, "MaxPool2d.backward: input gradient too small for batch \(batch)")
        let dx = inputGradient.baseAddress!
        dx.update(repeating: 0, count: batch * inputCount)
        for sample in 0..<batch {
            let dy = outputGradient.baseAddress! + sample * outputCount
            let positions = maximumPositions.base + sample * outputCount
            let sampleGradient = dx + sample * inputCount
            for index in 0..<outputCount { sampleGradient[Int(positions[index])] += dy[index] }
        }
    }
}
