import Linalg

/// Average pooling over square windows without padding, per channel:
///
///     y[c, oy, ox] = Σ_{i, j < k} x[c, oy s + i, ox s + j] / k²
///     dx[c, oy s + i, ox s + j] += dy[c, oy, ox] / k²
public final class AvgPool2d<Scalar: LinalgScalar>: Layer {
    /// Window height and width.
    public let kernel: Int
    /// Step between windows.
    public let stride: Int

    public var kind: String { "avgpool" }

    private var window = SlidingWindow()

    /// Windows of `kernel` x `kernel` every `stride` pixels (`kernel` when nil: no overlap).
    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel >= 1, "AvgPool2d: kernel must be at least 1, got \(kernel)")
        precondition((stride ?? kernel) >= 1, "AvgPool2d: stride must be at least 1, got \(stride ?? kernel)")
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
            preconditionFailure("AvgPool2d.bind: \(error)")
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        let window = self.window
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(input.count >= batch * inputCount && output.count >= batch * outputCount,
                     "AvgPool2d.forward: buffers too small for batch \(batch)")
        let reciprocalArea = 1 / Scalar(kernel * kernel)
        for sample in 0..<batch {
            let image = input.baseAddress! + sample * inputCount
            let y = output.baseAddress! + sample * outputCount
            var outputIndex = 0
            for channel in 0..<window.channels {
                let channelStart = channel * window.height * window.width
                for outputRow in 0..<window.outputHeight {
                    for outputColumn in 0..<window.outputWidth {
                        let corner = channelStart + outputRow * stride * window.width + outputColumn * stride
                        var sum: Scalar = 0
                        for kernelRow in 0..<kernel {
                            let rowStart = corner + kernelRow * window.width
                            for kernelColumn in 0..<kernel { sum += image[rowStart + kernelColumn] }
                        }
                        y[outputIndex] = sum * reciprocalArea
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
        let window = self.window
        let (inputCount, outputCount) = (window.inputCount, window.channels * window.outputPlane)
        precondition(inputGradient.count >= batch * inputCount, "AvgPool2d.backward: input gradient too small for batch \(batch)")
        let reciprocalArea = 1 / Scalar(kernel * kernel)
        let dx = inputGradient.baseAddress!
        dx.update(repeating: 0, count: batch * inputCount)
        for sample in 0..<batch {
            let dy = outputGradient.baseAddress! + sample * outputCount
            let sampleGradient = dx + sample * inputCount
            var outputIndex = 0
            for channel in 0..<window.channels {
                let channelStart = channel * window.height * window.width
                for outputRow in 0..<window.outputHeight {
                    for outputColumn in 0..<window.outputWidth {
                        let share = dy[outputIndex] * reciprocalArea
                        let corner = channelStart + outputRow * stride * window.width + outputColumn * stride
                        for kernelRow in 0..<kernel {
                            let rowStart = corner + kernelRow * window.width
                            for kernelColumn in 0..<kernel { sampleGradient[rowStart + kernelColumn] += share }
                        }
                        outputIndex += 1
                    }
                }
            }
        }
    }
}
