import Linalg

/// The im2col column matrix of a convolution and its adjoint: the windows of an image laid out
/// so that the convolution is one GEMM.
///
/// For an image x [C, H, W] and a k x k kernel at stride s with zero padding p, the columns of
/// one image are
///
///     cols[(c k + i) k + j, oy Wo + ox] = x[c, oy s - p + i, ox s - p + j]      (0 outside x)
///
/// The matrix of several images puts them side by side: image `n`'s columns start at column
/// `n Ho Wo` of a matrix whose rows are `leadingDimension` long.
struct ColumnMatrix {
    let window: SlidingWindow

    /// `C k k`, the rows: the fan-in of one output.
    var rows: Int { window.channels * window.kernel * window.kernel }

    /// Writes the columns of `image` into the matrix at `cols` (the image's first column), rows
    /// `leadingDimension` apart.
    func write<Scalar: LinalgScalar>(_ image: UnsafePointer<Scalar>, into cols: UnsafeMutablePointer<Scalar>, leadingDimension: Int) {
        let (outputWidth, stride) = (window.outputWidth, window.stride)
        if stride == 1 && window.padding == 0 {
            writeUnpadded(image, into: cols, leadingDimension: leadingDimension)
            return
        }
        forEachSegment(leadingDimension: leadingDimension, includingPadding: true) { segmentStart, imageRowStart, validColumns, columnShift in
            let segment = cols + segmentStart
            guard let imageRowStart else {
                segment.update(repeating: 0, count: outputWidth)
                return
            }
            let source = image + imageRowStart
            if validColumns.lowerBound > 0 { segment.update(repeating: 0, count: validColumns.lowerBound) }
            if stride == 1 {
                // The valid entries are one contiguous run of the image row: one short copy.
                let start = validColumns.lowerBound
                VectorKernels.copyShort(from: source + (start + columnShift), to: segment + start, count: validColumns.count)
            } else {
                for outputColumn in validColumns {
                    segment[outputColumn] = source[outputColumn * stride + columnShift]
                }
            }
            if validColumns.upperBound < outputWidth {
                (segment + validColumns.upperBound).update(repeating: 0, count: outputWidth - validColumns.upperBound)
            }
        }
    }

    /// `write` at stride 1 without padding, where every window lies inside the image: the runs
    /// copied without the segment walk.
    private func writeUnpadded<Scalar: LinalgScalar>(_ image: UnsafePointer<Scalar>, into cols: UnsafeMutablePointer<Scalar>, leadingDimension: Int) {
        let outputWidth = window.outputWidth
        forEachUnpaddedRun(leadingDimension: leadingDimension) { pixel, entry in
            VectorKernels.copyShort(from: image + pixel, to: cols + entry, count: outputWidth)
        }
    }

    /// Overwrites the image gradient `image` with the sum of the column-gradient entries copied
    /// from each pixel (the adjoint of `write`), reading the columns at `cols`.
    func addBack<Scalar: LinalgScalar>(_ cols: UnsafePointer<Scalar>, leadingDimension: Int, into image: UnsafeMutablePointer<Scalar>) {
        let stride = window.stride
        image.update(repeating: 0, count: window.inputCount)
        if stride == 1 && window.padding == 0 {
            addBackUnpadded(cols, leadingDimension: leadingDimension, into: image)
            return
        }
        forEachSegment(leadingDimension: leadingDimension, includingPadding: false) { segmentStart, imageRowStart, validColumns, columnShift in
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

    /// `addBack` at stride 1 without padding (see `writeUnpadded`), onto a zeroed `image`.
    private func addBackUnpadded<Scalar: LinalgScalar>(_ cols: UnsafePointer<Scalar>, leadingDimension: Int, into image: UnsafeMutablePointer<Scalar>) {
        let outputWidth = window.outputWidth
        forEachUnpaddedRun(leadingDimension: leadingDimension) { pixel, entry in
            let (pixels, entries) = (image + pixel, cols + entry)
            for column in 0..<outputWidth { pixels[column] += entries[column] }
        }
    }

    /// Walks the matrix of one image at stride 1 without padding, one run at a time: the Wo
    /// entries of output row oy in row (c, i, j), starting at matrix index `entry`, come from the
    /// contiguous pixels x[c, oy + i, j..<j + Wo], starting at image index `pixel`.
    @inline(__always)
    private func forEachUnpaddedRun(leadingDimension: Int, _ body: (_ pixel: Int, _ entry: Int) -> Void) {
        let (kernel, width, outputWidth) = (window.kernel, window.width, window.outputWidth)
        var row = 0
        for channel in 0..<window.channels {
            for kernelRow in 0..<kernel {
                for kernelColumn in 0..<kernel {
                    var (pixel, entry) = ((channel * window.height + kernelRow) * width + kernelColumn, row)
                    for _ in 0..<window.outputHeight {
                        body(pixel, entry)
                        pixel += width
                        entry += outputWidth
                    }
                    row += leadingDimension
                }
            }
        }
    }

    /// Walks one image's columns in memory order, one segment (the entries of one output row oy
    /// in the row (c, i, j) of the matrix) at a time: `body` gets the matrix index of the
    /// segment's first entry, the image index of the input row `oy s - p + i` of channel c (nil
    /// when that row lies in the padding, whose segments are visited only `includingPadding`),
    /// the output columns ox whose input column `ox s - p + j` is inside the image, and `j - p`.
    @inline(__always)
    private func forEachSegment(
        leadingDimension: Int, includingPadding: Bool,
        _ body: (_ segmentStart: Int, _ imageRowStart: Int?, _ validColumns: Range<Int>, _ columnShift: Int) -> Void
    ) {
        let (window, kernel) = (self.window, self.window.kernel)
        for channel in 0..<window.channels {
            for kernelRow in 0..<kernel {
                let validRows = window.validOutputRows(kernelRow: kernelRow)
                for kernelColumn in 0..<kernel {
                    let validColumns = window.validOutputColumns(kernelColumn: kernelColumn)
                    let columnShift = kernelColumn - window.padding
                    let rowStart = ((channel * kernel + kernelRow) * kernel + kernelColumn) * leadingDimension
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
