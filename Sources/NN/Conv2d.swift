import Linalg

/// A 2-D convolution (cross-correlation, as in PyTorch) with square kernels, zero padding and
/// stride, computed per sample as im2col followed by one GEMM.
///
/// With the input image x [C, H, W], weight W [O, C, k, k] seen as the matrix O x (C k k), and the
/// column matrix of a sample
///
///     cols[(c k + i) k + j, oy Wo + ox] = x[c, oy s - p + i, ox s - p + j]      (0 outside x)
///
///     forward:   Y = W cols + b 1^T                      (O x Ho Wo, the sample's output)
///     backward:  dW += dY cols^T,   db += dY 1,   dx = col2im(W^T dY)
///
/// where col2im adds every column entry back onto the input pixel it was copied from. The
/// columns of one sample are rebuilt in the backward rather than kept for the whole batch
/// (C k k Ho Wo elements per sample would otherwise be held for maxBatch samples); a 1x1
/// kernel with stride 1 and no padding multiplies the image directly.
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

    private var window = SlidingWindow()
    private var weight: BoundTensor<Scalar>?
    private var bias: BoundTensor<Scalar>?
    private var columns = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var columnGradients = ScratchBuffer<Scalar>(count: 0, initialValue: 0)

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
        let columnCount = isPointwise ? 0 : patchSize * window.outputPlane
        columns = ScratchBuffer(count: columnCount, initialValue: 0)
        columnGradients = ScratchBuffer(count: columnCount, initialValue: 0)
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

    /// A 1x1 kernel at stride 1 without padding: the image is its own column matrix.
    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let weight, let bias else { preconditionFailure("Conv2d.forward before bind") }
        let (inputCount, plane, patchSize, outputs) = (window.inputCount, window.outputPlane, self.patchSize, self.outputs)
        precondition(input.count >= batch * inputCount && output.count >= batch * outputs * plane,
                     "Conv2d.forward: buffers too small for batch \(batch)")
        for sample in 0..<batch {
            let image = input.baseAddress! + sample * inputCount
            let y = output.baseAddress! + sample * outputs * plane
            let cols = columnMatrix(of: image)
            for channel in 0..<outputs {
                (y + channel * plane).update(repeating: bias.values[channel], count: plane)
            }
            BLAS.gemm(
                transposeA: false, transposeB: false, m: outputs, n: plane, k: patchSize,
                alpha: 1, a: weight.values, lda: patchSize, b: cols, ldb: plane, beta: 1, c: y, ldc: plane)
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
        let (inputCount, plane, patchSize, outputs) = (window.inputCount, window.outputPlane, self.patchSize, self.outputs)
        if let inputGradient {
            precondition(inputGradient.count >= batch * inputCount, "Conv2d.backward: input gradient too small for batch \(batch)")
        }
        for sample in 0..<batch {
            let image = input.baseAddress! + sample * inputCount
            let dy = outputGradient.baseAddress! + sample * outputs * plane
            for channel in 0..<outputs {
                let row = dy + channel * plane
                var sum: Scalar = 0
                for position in 0..<plane { sum += row[position] }
                bias.gradients[channel] += sum
            }
            let cols = columnMatrix(of: image)
            BLAS.gemm(
                transposeA: false, transposeB: true, m: outputs, n: patchSize, k: plane,
                alpha: 1, a: dy, lda: plane, b: cols, ldb: plane, beta: 1, c: weight.gradients, ldc: patchSize)
            guard let inputGradient else { continue }
            let dx = inputGradient.baseAddress! + sample * inputCount
            let target = isPointwise ? dx : columnGradients.base
            BLAS.gemm(
                transposeA: true, transposeB: false, m: patchSize, n: plane, k: outputs,
                alpha: 1, a: weight.values, lda: patchSize, b: dy, ldb: plane, beta: 0, c: target, ldc: plane)
            if !isPointwise { columnsToImage(columnGradients.base, into: dx) }
        }
    }

    /// The column matrix of one image: the image itself for a pointwise kernel, else written
    /// into `columns`.
    private func columnMatrix(of image: UnsafePointer<Scalar>) -> UnsafePointer<Scalar> {
        guard !isPointwise else { return image }
        imageToColumns(image, into: columns.base)
        return UnsafePointer(columns.base)
    }

    /// Writes the column matrix of one image (see the type's doc comment).
    private func imageToColumns(_ image: UnsafePointer<Scalar>, into cols: UnsafeMutablePointer<Scalar>) {
        let (outputWidth, stride) = (window.outputWidth, window.stride)
        forEachColumnSegment(includingPadding: true) { segmentStart, imageRowStart, validColumns, columnShift in
            let segment = cols + segmentStart
            guard let imageRowStart else {
                segment.update(repeating: 0, count: outputWidth)
                return
            }
            let source = image + imageRowStart
            segment.update(repeating: 0, count: validColumns.lowerBound)
            if stride == 1 {
                // The valid entries are one contiguous run of the image row: one copy.
                let start = validColumns.lowerBound
                (segment + start).update(from: source + (start + columnShift), count: validColumns.count)
            } else {
                for outputColumn in validColumns {
                    segment[outputColumn] = source[outputColumn * stride + columnShift]
                }
            }
            (segment + validColumns.upperBound).update(repeating: 0, count: outputWidth - validColumns.upperBound)
        }
    }

    /// Overwrites the image gradient with the sum of the column-matrix gradient entries copied
    /// from each pixel (the adjoint of `imageToColumns`).
    private func columnsToImage(_ cols: UnsafePointer<Scalar>, into image: UnsafeMutablePointer<Scalar>) {
        let stride = window.stride
        image.update(repeating: 0, count: window.inputCount)
        forEachColumnSegment(includingPadding: false) { segmentStart, imageRowStart, validColumns, columnShift in
            guard let imageRowStart else { return }
            let (segment, destination) = (cols + segmentStart, image + imageRowStart)
            if stride == 1 {
                // One contiguous run of the image row, a loop the compiler vectorises.
                let start = validColumns.lowerBound
                let (entries, pixels) = (segment + start, destination + (start + columnShift))
                for offset in 0..<validColumns.count { pixels[offset] += entries[offset] }
            } else {
                for outputColumn in validColumns {
                    destination[outputColumn * stride + columnShift] += segment[outputColumn]
                }
            }
        }
    }

    /// Walks the column matrix of one image in memory order, one segment (the entries of one
    /// output row oy in the row (c, i, j) of the matrix) at a time, for `imageToColumns` and its
    /// adjoint: `body` gets the index in the matrix of the segment's first entry, the image index
    /// of the input row `oy s - p + i` of channel c (nil when that row lies in the padding, whose
    /// segments are visited only `includingPadding`), the output columns ox whose input column
    /// `ox s - p + j` is inside the image, and `j - p`.
    @inline(__always)
    private func forEachColumnSegment(
        includingPadding: Bool,
        _ body: (_ segmentStart: Int, _ imageRowStart: Int?, _ validColumns: Range<Int>, _ columnShift: Int) -> Void
    ) {
        let window = self.window
        for channel in 0..<window.channels {
            for kernelRow in 0..<kernel {
                let validRows = window.validOutputRows(kernelRow: kernelRow)
                for kernelColumn in 0..<kernel {
                    let validColumns = window.validOutputColumns(kernelColumn: kernelColumn)
                    let columnShift = kernelColumn - window.padding
                    let rowStart = ((channel * kernel + kernelRow) * kernel + kernelColumn) * window.outputPlane
                    for outputRow in 0..<validRows.lowerBound where includingPadding {
                        body(rowStart + outputRow * window.outputWidth, nil, validColumns, columnShift)
                    }
                    for outputRow in validRows {
                        let inputRow = outputRow * window.stride - window.padding + kernelRow
                        body(rowStart + outputRow * window.outputWidth, (channel * window.height + inputRow) * window.width,
                             validColumns, columnShift)
                    }
                    for outputRow in validRows.upperBound..<window.outputHeight where includingPadding {
                        body(rowStart + outputRow * window.outputWidth, nil, validColumns, columnShift)
                    }
                }
            }
        }
    }
}
