import Support

/// Where the data of a run comes from: by default Fashion-MNIST images as the Debian package
/// `dataset-fashion-mnist` installs them, normalised; with `text`, a UTF-8 text file for a
/// character-level language model (the image fields are then unused).
package struct DataConfig: ConfigRecord, Sendable, Equatable {
    /// The directory the Debian package `dataset-fashion-mnist` installs its files into.
    package static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    package var trainImages = Self.fashionMNISTDirectory + "/train-images-idx3-ubyte.gz"
    package var trainLabels = Self.fashionMNISTDirectory + "/train-labels-idx1-ubyte.gz"
    package var testImages = Self.fashionMNISTDirectory + "/t10k-images-idx3-ubyte.gz"
    package var testLabels = Self.fashionMNISTDirectory + "/t10k-labels-idx1-ubyte.gz"
    /// The normalisation mean of pixel / 255; nil: computed on the training set.
    package var mean: Double?
    /// The normalisation standard deviation of pixel / 255; nil: computed on the training set.
    package var std: Double?
    /// A UTF-8 text file: the run is a character-level language model on it (`TextCorpus`: its
    /// characters are the vocabulary, the last 10% is the validation part); nil: images.
    package var text: String?
    /// The characters a language model sees at once (its context window); each training sample
    /// is a window of `context` characters and the `context` characters that follow each.
    package var context = 128
    /// How many validation windows an evaluation reads, evenly spaced over the validation part
    /// and not overlapping (0: every non-overlapping window).
    package var validationWindows = 256

    /// The longest context: position embeddings and attention scores grow with it.
    package static let maximumContext = 1 << 16

    /// Fashion-MNIST from the Debian package, normalised by its own statistics.
    package init() {}

    package init(
        trainImages: String = Self().trainImages, trainLabels: String = Self().trainLabels,
        testImages: String = Self().testImages, testLabels: String = Self().testLabels,
        mean: Double? = Self().mean, std: Double? = Self().std
    ) {
        self.trainImages = trainImages
        self.trainLabels = trainLabels
        self.testImages = testImages
        self.testLabels = testLabels
        self.mean = mean
        self.std = std
    }

    package static let fields: [ConfigField<DataConfig>] = [
        .init("trainImages", \.trainImages, .nonEmpty),
        .init("trainLabels", \.trainLabels, .nonEmpty),
        .init("testImages", \.testImages, .nonEmpty),
        .init("testLabels", \.testLabels, .nonEmpty),
        .check(summary: "give both mean and std, or neither") { ($0.mean == nil) != ($0.std == nil) ? "give both mean and std, or neither (computed on the training set)" : nil },
        .init("mean", \.mean, .finite),
        .init("std", \.std, .above(0)),
        .init("text", \.text, .nonEmpty),
        .init("context", \.context, .within(1...maximumContext)),
        .init("validationWindows", \.validationWindows, .within(0...(1 << 40))),
    ]

    package static let problemPlacement = ConfigProblemPlacement.object

    package static func defaults(given _: GivenFields<DataConfig>) -> DataConfig { DataConfig() }

    /// The text corpus `text` names, for windows of `context` characters.
    package func loadText() throws(DataError) -> TextCorpus {
        guard let text else { preconditionFailure("DataConfig.loadText without data.text") }
        return try TextCorpus.load(path: text, context: context)
    }

    /// Loads both sets; the test labels must lie in the training set's classes and the test images
    /// must have the training images' size.
    package func load() throws(DataError) -> (training: ImageDataset, test: ImageDataset) {
        let training = try ImageDataset.load(images: trainImages, labels: trainLabels)
        let test = try ImageDataset.load(images: testImages, labels: testLabels, classes: training.classes)
        guard test.rows == training.rows, test.columns == training.columns else {
            throw DataError(testImages, "images are \(test.rows) x \(test.columns), the training images (\(trainImages)) \(training.rows) x \(training.columns)")
        }
        return (training, test)
    }

    /// The sizes of the data, read from the four files' headers alone (a few bytes each), so a
    /// run can be sized before anything is loaded.
    package func readShape() throws(DataError) -> DataShape {
        func header(_ path: String, dimensions: Int) throws(DataError) -> [Int] {
            let header = try IDXFile.readHeader(path: path)
            guard header.dimensions.count == dimensions else {
                throw DataError(path, "expected \(dimensions) dimension\(dimensions == 1 ? "" : "s"), found \(header.dimensions.count)")
            }
            guard header.elementType == .uint8 else {
                throw DataError(path, "expected elements of type \(IDXElementType.uint8.label), found \(header.elementType.label)")
            }
            return header.dimensions
        }
        let training = try header(trainImages, dimensions: 3)
        let test = try header(testImages, dimensions: 3)
        for (labels, images, count) in [(trainLabels, trainImages, training[0]), (testLabels, testImages, test[0])] {
            let labelCount = try header(labels, dimensions: 1)[0]
            guard labelCount == count else {
                throw DataError(labels, "holds \(labelCount) labels, but \(images) holds \(count) images")
            }
        }
        return DataShape(trainingCount: training[0], testCount: test[0], rows: training[1], columns: training[2])
    }

    /// The first label in either label file that is not below `classes` (the model's outputs),
    /// as an error naming the file and the sample; nil when all are. Throws when a file cannot
    /// be read.
    package func labelProblem(classes: Int) throws(DataError) -> DataError? {
        for path in [trainLabels, testLabels] {
            let file = try IDXFile.read(path: path)
            guard file.elementType == .uint8 else { continue }
            if let index = file.bytes.firstIndex(where: { Int($0) >= classes }) {
                return DataError(path, "sample \(index) has label \(file.bytes[index]), the model has \(classes) classes")
            }
        }
        return nil
    }

    /// The configured mean and std, or those of `training` when not configured.
    package func normalization(training: ImageDataset) -> (mean: Double, std: Double) {
        if let mean, let std { return (mean, std) }
        return training.statistics()
    }

    /// What to do about a missing file at `path`: installing the Debian package for files of its
    /// directory; nil for other paths.
    package static func installHint(for path: String) -> String? {
        path.hasPrefix(fashionMNISTDirectory + "/") || path == fashionMNISTDirectory
            ? "install the Debian package dataset-fashion-mnist" : nil
    }
}
