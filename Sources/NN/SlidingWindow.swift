/// The geometry of a square window sliding over a [channels, height, width] image (convolution
/// and pooling): zero padding on every side, then `outputHeight = (height + 2 padding - kernel) /
/// stride + 1` rounded down (so a partial window at the edge is dropped), likewise for the width.
struct SlidingWindow: Equatable {
    var channels = 0
    var height = 0
    var width = 0
    var kernel = 1
    var stride = 1
    var padding = 0
    var outputHeight = 0
    var outputWidth = 0

    init() {}

    /// The geometry for `inputShape`, or an error naming `layer` if it is not an image or the
    /// padded image is smaller than the window.
    init(layer: String, inputShape: [Int], kernel: Int, stride: Int, padding: Int) throws(ModelError) {
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw .incompatibleInput(layer: layer, inputShape: inputShape, reason: "needs a [channels, height, width] image")
        }
        let (height, width) = (inputShape[1], inputShape[2])
        guard height + 2 * padding >= kernel, width + 2 * padding >= kernel else {
            throw .incompatibleInput(
                layer: layer, inputShape: inputShape,
                reason: "kernel \(kernel) is larger than the padded image \(height + 2 * padding) x \(width + 2 * padding)")
        }
        self.channels = inputShape[0]
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.outputHeight = (height + 2 * padding - kernel) / stride + 1
        self.outputWidth = (width + 2 * padding - kernel) / stride + 1
    }

    /// Elements of one input image.
    var inputCount: Int { channels * height * width }
    /// Output positions per channel.
    var outputPlane: Int { outputHeight * outputWidth }

    /// The output columns `ox` whose input column `ox stride - padding + offset` is inside the
    /// image, for a kernel column `offset`: `lower..<upper`, possibly empty.
    func validOutputColumns(kernelColumn offset: Int) -> Range<Int> {
        validOutputs(kernelOffset: offset, inputSize: width, outputSize: outputWidth)
    }

    /// As `validOutputColumns`, for rows.
    func validOutputRows(kernelRow offset: Int) -> Range<Int> {
        validOutputs(kernelOffset: offset, inputSize: height, outputSize: outputHeight)
    }

    /// Calls `body` for every output of one image, in output order (channel, row, column), with
    /// the output's index and the image index of its window's top-left element; for windows
    /// without padding (pooling).
    @inline(__always)
    func forEachWindow(_ body: (_ outputIndex: Int, _ corner: Int) -> Void) {
        var outputIndex = 0
        for channel in 0..<channels {
            let channelStart = channel * height * width
            for outputRow in 0..<outputHeight {
                var corner = channelStart + outputRow * stride * width
                for _ in 0..<outputWidth {
                    body(outputIndex, corner)
                    outputIndex += 1
                    corner += stride
                }
            }
        }
    }

    /// Calls `body` with the image index of every element of the window whose top-left element
    /// is at image index `corner`, in row-major order.
    @inline(__always)
    func forEachElement(ofWindowAt corner: Int, _ body: (_ index: Int) -> Void) {
        for kernelRow in 0..<kernel {
            let rowStart = corner + kernelRow * width
            for kernelColumn in 0..<kernel { body(rowStart + kernelColumn) }
        }
    }

    private func validOutputs(kernelOffset: Int, inputSize: Int, outputSize: Int) -> Range<Int> {
        let shift = kernelOffset - padding
        let lower = shift >= 0 ? 0 : (-shift + stride - 1) / stride
        let last = inputSize - 1 - shift
        let upper = last >= 0 ? min(outputSize, last / stride + 1) : 0
        return lower..<max(lower, upper)
    }
}
