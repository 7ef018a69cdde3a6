/// A labelled set of greyscale images kept as bytes (a quarter of the memory of floats), turned
/// into normalised `Float` features only when a batch is assembled.
///
/// A sample's features are its pixels row by row, each `(pixel / 255 - mean) / std`; its label
/// is a class in `0..<classes`.
package struct ImageDataset: Sendable {
    /// `count * rows * columns` pixels, sample after sample, each row-major.
    package let pixels: [UInt8]
    /// One class per sample.
    package let labels: [Int32]
    package let count: Int
    package let rows: Int
    package let columns: Int
    /// The number of classes: labels lie in `0..<classes`.
    package let classes: Int

    /// The shape of one sample as a network input: one channel of `rows x columns`.
    package var sampleShape: [Int] { [1, rows, columns] }
    /// Features per sample, `rows * columns`.
    package var featureCount: Int { rows * columns }

    /// A dataset from memory; `classes` defaults to the largest label + 1.
    package init(pixels: [UInt8], labels: [Int32], rows: Int, columns: Int, classes: Int? = nil) {
        precondition(!labels.isEmpty && rows > 0 && columns > 0, "ImageDataset: empty dataset")
        precondition(pixels.count == labels.count * rows * columns,
                     "ImageDataset: \(pixels.count) pixels for \(labels.count) images of \(rows) x \(columns)")
        let classes = classes ?? Int(labels.max()!) + 1
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classes }, "ImageDataset: labels outside 0..<\(classes)")
        self.pixels = pixels
        self.labels = labels
        self.count = labels.count
        self.rows = rows
        self.columns = columns
        self.classes = classes
    }

    /// Reads an IDX image file (`count x rows x columns` unsigned bytes) and an IDX label file
    /// (`count` unsigned bytes), plain or gzip. `classes` defaults to the largest label + 1; when
    /// given, every label must be below it.
    package static func load(images imagePath: String, labels labelPath: String, classes: Int? = nil) throws(DataError) -> ImageDataset {
        let images = try IDXFile.read(path: imagePath)
        guard images.dimensions.count == 3 else {
            throw DataError(imagePath, "expected 3 dimensions (images x rows x columns), found \(images.dimensions.count)")
        }
        guard images.elementType == .uint8 else {
            throw DataError(imagePath, "expected pixels of type \(IDXElementType.uint8.label), found \(images.elementType.label)")
        }
        let labelFile = try IDXFile.read(path: labelPath)
        guard labelFile.dimensions.count == 1 else {
            throw DataError(labelPath, "expected 1 dimension (labels), found \(labelFile.dimensions.count)")
        }
        guard labelFile.elementType == .uint8 else {
            throw DataError(labelPath, "expected labels of type \(IDXElementType.uint8.label), found \(labelFile.elementType.label)")
        }
        let count = images.dimensions[0]
        guard labelFile.dimensions[0] == count else {
            throw DataError(labelPath, "holds \(labelFile.dimensions[0]) labels, but \(imagePath) holds \(count) images")
        }
        let largest = Int(labelFile.bytes.max()!)
        let classCount = classes ?? largest + 1
        if largest >= classCount {
            let index = labelFile.bytes.firstIndex { Int($0) >= classCount }!
            throw DataError(labelPath, "label \(labelFile.bytes[index]) of sample \(index) is not below the \(classCount) classes")
        }
        return ImageDataset(
            pixels: images.bytes, labels: labelFile.bytes.map { Int32($0) },
            rows: images.dimensions[1], columns: images.dimensions[2], classes: classCount)
    }

    /// The mean and (population) standard deviation of `pixel / 255` over every pixel, exact up
    /// to rounding: computed from a histogram of byte values.
    package func statistics() -> (mean: Double, std: Double) {
        var histogram = [Int](repeating: 0, count: 256)
        for pixel in pixels { histogram[Int(pixel)] += 1 }
        let total = Double(pixels.count)
        var mean = 0.0
        for (value, frequency) in histogram.enumerated() { mean += Double(frequency) * (Double(value) / 255) }
        mean /= total
        var variance = 0.0
        for (value, frequency) in histogram.enumerated() {
            let deviation = Double(value) / 255 - mean
            variance += Double(frequency) * deviation * deviation
        }
        return (mean, (variance / total).squareRoot())
    }

    /// Writes the samples at `indices` into a batch: `features` receives their normalised pixels
    /// (sample after sample, `featureCount` each) and `labels` their classes. The buffers may be
    /// larger than the batch; the rest is left untouched. Does not allocate.
    package func fill(
        indices: UnsafeBufferPointer<Int>, features: UnsafeMutableBufferPointer<Float>,
        labels: UnsafeMutableBufferPointer<Int32>, mean: Float, std: Float
    ) {
        let width = featureCount
        precondition(features.count >= indices.count * width,
                     "ImageDataset.fill: \(features.count) features for \(indices.count) samples of \(width)")
        precondition(labels.count >= indices.count,
                     "ImageDataset.fill: \(labels.count) labels for \(indices.count) samples")
        pixels.withUnsafeBufferPointer { pixels in
            for (slot, index) in indices.enumerated() {
                precondition(index >= 0 && index < count, "ImageDataset.fill: index \(index) outside 0..<\(count)")
                let source = index * width
                let destination = slot * width
                for offset in 0..<width {
                    features[destination + offset] = (Float(pixels[source + offset]) / 255 - mean) / std
                }
                labels[slot] = self.labels[index]
            }
        }
    }

    /// `fill` for arrays: the arrays must already be large enough (they are not resized).
    package func fill(indices: [Int], features: inout [Float], labels: inout [Int32], mean: Float, std: Float) {
        indices.withUnsafeBufferPointer { indices in
            features.withUnsafeMutableBufferPointer { features in
                labels.withUnsafeMutableBufferPointer { labels in
                    fill(indices: indices, features: features, labels: labels, mean: mean, std: std)
                }
            }
        }
    }

    /// The first `count` samples (small runs and tests), with the same `classes`.
    package func prefix(_ count: Int) -> ImageDataset {
        precondition(count > 0 && count <= self.count, "ImageDataset.prefix: \(count) of \(self.count) samples")
        return ImageDataset(
            pixels: Array(pixels[0..<(count * featureCount)]), labels: Array(labels[0..<count]),
            rows: rows, columns: columns, classes: classes)
    }
}
