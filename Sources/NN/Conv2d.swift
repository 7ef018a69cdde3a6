import Linalg

/// A 2-D convolution (cross-correlation, as in PyTorch) with square kernels, zero padding and
/// stride, computed as im2col and one GEMM per chunk of samples.
///
/// With the input image x [C, H, W], weight W [O, C, k, k] seen as the matrix O x (C k k), and
/// `cols` the column matrix of a chunk of n images side by side (`ColumnMatrix`),
///
///     forward:   Y = W cols + b 1^T                  (O x n Ho Wo)
///     backward:  dW += dY cols^T,   db += dY 1,   dx = col2im(W^T dY)
///
/// where col2im adds every column entry back onto the input pixel it was copied from. A chunk
/// holds enough images for GEMMs about `chunkColumns` columns wide (wide enough to run near
/// sgemm's speed, narrow enough that a chunk's columns stay in cache), and the chunks are spread
/// over the cores (`ParallelLoop`), each on a one-thread GEMM. The chunk size depends on the
/// layer's geometry only, and the weight and bias gradients are summed chunk by chunk in chunk
/// order, so results do not depend on the number of cores. The columns are rebuilt in the
/// backward rather than kept for the whole batch.
package final class Conv2d<Scalar: LinalgScalar>: Layer {
    /// Output channels.
    package let outputs: Int
    /// Kernel height and width.
    package let kernel: Int
    /// Step between windows, in both directions.
    package let stride: Int
    /// Zeros added on every side of the image.
    package let padding: Int

    package var kind: String { "conv2d" }

    /// The GEMM width a chunk of images aims at.
    static var chunkColumns: Int { 2048 }

    private var window = SlidingWindow()
    private var weight: BoundTensor<Scalar>?
    private var bias: BoundTensor<Scalar>?
    /// Images per chunk.
    private var chunkImages = 1
    /// Per worker: a chunk's columns (or their gradient), `C k k x n Ho Wo`.
    private var columns: [ScratchBuffer<Scalar>] = []
    /// Per worker: a chunk's output or output gradient as one matrix, `O x n Ho Wo`.
    private var chunkOutputs: [ScratchBuffer<Scalar>] = []
    /// Per chunk: its part of the weight gradient (`O x C k k`) and of the bias gradient (`O`).
    private var weightGradientParts = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var biasGradientParts = ScratchBuffer<Scalar>(count: 0, initialValue: 0)

    package init(outputs: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        precondition(outputs >= 1, "Conv2d: outputs must be at least 1, got \(outputs)")
        precondition(kernel >= 1, "Conv2d: kernel must be at least 1, got \(kernel)")
        precondition(stride >= 1, "Conv2d: stride must be at least 1, got \(stride)")
        precondition(padding >= 0, "Conv2d: padding must be at least 0, got \(padding)")
        self.outputs = outputs
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        let window = try slidingWindow(for: inputShape)
        return [outputs, window.outputHeight, window.outputWidth]
    }

    /// The geometry of the kernel's windows over an image of `inputShape`.
    private func slidingWindow(for inputShape: [Int]) throws(ModelError) -> SlidingWindow {
        try SlidingWindow(layer: kind, inputShape: inputShape, kernel: kernel, stride: stride, padding: padding)
    }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        [("weight", [outputs, inputShape[0], kernel, kernel]), ("bias", [outputs])]
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        (weight, bias) = store.boundPair(at: parameterIndices, layer: "Conv2d")
        window = checkedAtBind("Conv2d") { try slidingWindow(for: inputShape) }
        let plane = window.outputPlane
        chunkImages = max(1, min(maxBatch, Self.chunkColumns / plane))
        let workers = max(1, BLASThreading.threads)
        columns = (0..<workers).map { _ in ScratchBuffer(count: patchSize * chunkImages * plane, initialValue: 0) }
        chunkOutputs = (0..<workers).map { _ in ScratchBuffer(count: outputs * chunkImages * plane, initialValue: 0) }
        let chunks = ParallelLoop.chunkCount(maxBatch, size: chunkImages)
        weightGradientParts = ScratchBuffer(count: chunks * outputs * patchSize, initialValue: 0)
        biasGradientParts = ScratchBuffer(count: chunks * outputs, initialValue: 0)
    }

    /// Weight and bias uniform in ±1/sqrt(C k k) (PyTorch's default).
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {
        guard let weight, let bias else { preconditionFailure("Conv2d.initialize before bind") }
        let bound = 1 / Double(patchSize).squareRoot()
        fillUniform(store.values(at: weight.index), bound: bound, using: &generator)
        fillUniform(store.values(at: bias.index), bound: bound, using: &generator)
    }

    /// The rows of the column matrix, C k k: the fan-in of one output.
    private var patchSize: Int { window.channels * kernel * kernel }

    /// Calls `body(chunk, images, worker)` for each chunk of `0..<batch`, chunks spread over the
    /// workers that have scratch.
    private func forEachChunk(batch: Int, _ body: (_ chunk: Int, _ images: Range<Int>, _ worker: Int) -> Void) {
        ParallelLoop.forEachChunk(count: batch, size: chunkImages, workers: min(BLASThreading.threads, columns.count), body)
    }

    /// Writes the columns of `images` side by side into `cols`, rows `leadingDimension` apart.
    private func writeColumns(_ input: UnsafeBufferPointer<Scalar>, images: Range<Int>, into cols: UnsafeMutablePointer<Scalar>, leadingDimension: Int) {
        let matrix = ColumnMatrix(window: window)
        for (offset, image) in images.enumerated() {
            matrix.write(input.baseAddress! + image * window.inputCount, into: cols + offset * window.outputPlane, leadingDimension: leadingDimension)
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let weight, let bias else { preconditionFailure("Conv2d.forward before bind") }
        let (plane, patchSize, outputs) = (window.outputPlane, self.patchSize, self.outputs)
        precondition(input.count >= batch * window.inputCount && output.count >= batch * outputs * plane,
                     "Conv2d.forward: buffers too small for batch \(batch)")
        forEachChunk(batch: batch) { _, images, worker in
            let width = images.count * plane
            let (cols, product) = (columns[worker].base, chunkOutputs[worker].base)
            writeColumns(input, images: images, into: cols, leadingDimension: width)
            BLAS.gemm(
                transposeA: false, transposeB: false, m: outputs, n: width, k: patchSize,
                alpha: 1, a: weight.values, lda: patchSize, b: cols, ldb: width, beta: 0, c: product, ldc: width)
            // Y of each image, channel by channel, plus the bias.
            for (offset, image) in images.enumerated() {
                for channel in 0..<outputs {
                    let (source, target, shift) = (product + channel * width + offset * plane, output.baseAddress! + (image * outputs + channel) * plane, bias.values[channel])
                    for position in 0..<plane { target[position] = source[position] + shift }
                }
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
        guard let weight, let bias else { preconditionFailure("Conv2d.backward before bind") }
        let (plane, patchSize, outputs) = (window.outputPlane, self.patchSize, self.outputs)
        if let inputGradient {
            precondition(inputGradient.count >= batch * window.inputCount, "Conv2d.backward: input gradient too small for batch \(batch)")
        }
        let weightParts = weightGradientParts.base
        let biasParts = biasGradientParts.base
        forEachChunk(batch: batch) { chunk, images, worker in
            let width = images.count * plane
            let (cols, gradient) = (columns[worker].base, chunkOutputs[worker].base)
            // dY of the chunk as one O x n Ho Wo matrix, and its row sums (db).
            for channel in 0..<outputs {
                let row = gradient + channel * width
                for (offset, image) in images.enumerated() {
                    (row + offset * plane).update(from: outputGradient.baseAddress! + (image * outputs + channel) * plane, count: plane)
                }
                biasParts[chunk * outputs + channel] = VectorKernels.sum(row, count: width)
            }
            writeColumns(input, images: images, into: cols, leadingDimension: width)
            BLAS.gemm(
                transposeA: false, transposeB: true, m: outputs, n: patchSize, k: width,
                alpha: 1, a: gradient, lda: width, b: cols, ldb: width, beta: 0, c: weightParts + chunk * outputs * patchSize, ldc: patchSize)
            guard let inputGradient else { return }
            // The column gradient W^T dY overwrites the columns, then goes back onto the images.
            BLAS.gemm(
                transposeA: true, transposeB: false, m: patchSize, n: width, k: outputs,
                alpha: 1, a: weight.values, lda: patchSize, b: gradient, ldb: width, beta: 0, c: cols, ldc: width)
            let matrix = ColumnMatrix(window: window)
            for (offset, image) in images.enumerated() {
                matrix.addBack(cols + offset * plane, leadingDimension: width, into: inputGradient.baseAddress! + image * window.inputCount)
            }
        }
        // The chunks' parts, in chunk order.
        let weightCount = outputs * patchSize
        for chunk in 0..<ParallelLoop.chunkCount(batch, size: chunkImages) {
            let part = weightParts + chunk * weightCount
            for index in 0..<weightCount { weight.gradients[index] += part[index] }
            for channel in 0..<outputs { bias.gradients[channel] += biasParts[chunk * outputs + channel] }
        }
    }
}
