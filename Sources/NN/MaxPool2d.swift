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
        let pairsInLanes = kernel == 2 && stride == 2 && Scalar.self == Float.self
        ParallelLoop.forEach(count: batch) { sample, _ in
            let image = input.baseAddress! + sample * inputCount
            let y = output.baseAddress! + sample * outputCount
            let positions = maximumPositions + sample * outputCount
            if pairsInLanes {
                Self.poolTwoByTwo(
                    UnsafeRawPointer(image).assumingMemoryBound(to: Float.self), window: window,
                    into: UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), positions: positions)
                return
            }
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

    /// 2 x 2 windows at stride 2 over one image, four outputs of a row at a time in SIMD lanes:
    /// the maximum of each row's pair, then of the two rows, each later value taken only when
    /// larger, so the position is the first maximum in row-major window order, as in the general
    /// loop (for inputs without NaN; with a NaN the two may keep different values).
    private static func poolTwoByTwo(_ image: UnsafePointer<Float>, window: SlidingWindow, into y: UnsafeMutablePointer<Float>, positions: UnsafeMutablePointer<Int32>) {
        let (width, outputWidth) = (window.width, window.outputWidth)
        let offsets = SIMD4<Int32>(0, 2, 4, 6)
        var outputIndex = 0
        for channel in 0..<window.channels {
            for outputRow in 0..<window.outputHeight {
                let topStart = (channel * window.height + 2 * outputRow) * width
                let (top, bottom) = (image + topStart, image + topStart + width)
                var column = 0
                while column + 4 <= outputWidth {
                    let upper = UnsafeRawPointer(top + 2 * column).loadUnaligned(as: SIMD8<Float>.self)
                    let lower = UnsafeRawPointer(bottom + 2 * column).loadUnaligned(as: SIMD8<Float>.self)
                    let (upperRight, lowerRight) = (upper.oddHalf .> upper.evenHalf, lower.oddHalf .> lower.evenHalf)
                    let upperMaximum = upper.evenHalf.replacing(with: upper.oddHalf, where: upperRight)
                    let lowerMaximum = lower.evenHalf.replacing(with: lower.oddHalf, where: lowerRight)
                    let below = lowerMaximum .> upperMaximum
                    let corners = SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: topStart + 2 * column)) &+ offsets
                    let upperPositions = corners.replacing(with: corners &+ 1, where: upperRight)
                    let lowerCorners = corners &+ Int32(truncatingIfNeeded: width)
                    let lowerPositions = lowerCorners.replacing(with: lowerCorners &+ 1, where: lowerRight)
                    UnsafeMutableRawPointer(y + outputIndex).storeBytes(
                        of: upperMaximum.replacing(with: lowerMaximum, where: below), as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(positions + outputIndex).storeBytes(
                        of: upperPositions.replacing(with: lowerPositions, where: below), as: SIMD4<Int32>.self)
                    column += 4
                    outputIndex += 4
                }
                while column < outputWidth {
                    let corner = topStart + 2 * column
                    var (maximum, best) = (image[corner], corner)
                    if image[corner + 1] > maximum { (maximum, best) = (image[corner + 1], corner + 1) }
                    if image[corner + width] > maximum { (maximum, best) = (image[corner + width], corner + width) }
                    if image[corner + width + 1] > maximum { (maximum, best) = (image[corner + width + 1], corner + width + 1) }
                    y[outputIndex] = maximum
                    positions[outputIndex] = Int32(truncatingIfNeeded: best)
                    column += 1
                    outputIndex += 1
                }
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
