import Support

/// Where the image data of a run comes from and how it is normalised: by default Fashion-MNIST
/// as the Debian package `dataset-fashion-mnist` installs it.
public struct DataConfig: Codable, Sendable, Equatable {
    /// The directory the Debian package `dataset-fashion-mnist` installs its files into.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    public var trainImages: String
    public var trainLabels: String
    public var testImages: String
    public var testLabels: String
    /// The normalisation mean of pixel / 255; nil: computed on the training set.
    public var mean: Double?
    /// The normalisation standard deviation of pixel / 255; nil: computed on the training set.
    public var std: Double?

    public init(
        trainImages: String = fashionMNISTDirectory + "/train-images-idx3-ubyte.gz",
        trainLabels: String = fashionMNISTDirectory + "/train-labels-idx1-ubyte.gz",
        testImages: String = fashionMNISTDirectory + "/t10k-images-idx3-ubyte.gz",
        testLabels: String = fashionMNISTDirectory + "/t10k-labels-idx1-ubyte.gz",
        mean: Double? = nil,
        std: Double? = nil
    ) {
        self.trainImages = trainImages
        self.trainLabels = trainLabels
        self.testImages = testImages
        self.testLabels = testLabels
        self.mean = mean
        self.std = std
    }

    /// A problem with the fields, naming the field; nil when they are usable.
    public func validationError() -> String? {
        for (name, path) in [("trainImages", trainImages), ("trainLabels", trainLabels),
                             ("testImages", testImages), ("testLabels", testLabels)] where path.isEmpty {
            return "\(name) must not be empty"
        }
        if (mean == nil) != (std == nil) { return "give both mean and std, or neither (computed on the training set)" }
        if let mean, !mean.isFinite { return "mean must be finite, got \(mean)" }
        if let std, !(std > 0 && std.isFinite) { return "std must be > 0, got \(std)" }
        return nil
    }

    /// Loads both sets; the test labels must lie in the training set's classes and the test images
    /// must have the training images' size.
    public func load() throws(DataError) -> (training: ImageDataset, test: ImageDataset) {
        let training = try ImageDataset.load(images: trainImages, labels: trainLabels)
        let test = try ImageDataset.load(images: testImages, labels: testLabels, classes: training.classes)
        guard test.rows == training.rows, test.columns == training.columns else {
            throw DataError(testImages, "images are \(test.rows) x \(test.columns), the training images (\(trainImages)) \(training.rows) x \(training.columns)")
        }
        return (training, test)
    }

    /// The configured mean and std, or those of `training` when not configured.
    public func normalization(training: ImageDataset) -> (mean: Double, std: Double) {
        if let mean, let std { return (mean, std) }
        return training.statistics()
    }

    /// What to do about a missing file at `path`: installing the Debian package for files of its
    /// directory; nil for other paths.
    public static func installHint(for path: String) -> String? {
        path.hasPrefix(fashionMNISTDirectory + "/") || path == fashionMNISTDirectory
            ? "install the Debian package dataset-fashion-mnist" : nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case trainImages, trainLabels, testImages, testLabels, mean, std
    }

    /// Decodes with every field optional (defaults as in `init`); unknown fields are errors.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DataConfig()
        self.init(
            trainImages: try container.decodeIfPresent(String.self, forKey: .trainImages) ?? defaults.trainImages,
            trainLabels: try container.decodeIfPresent(String.self, forKey: .trainLabels) ?? defaults.trainLabels,
            testImages: try container.decodeIfPresent(String.self, forKey: .testImages) ?? defaults.testImages,
            testLabels: try container.decodeIfPresent(String.self, forKey: .testLabels) ?? defaults.testLabels,
            mean: try container.decodeIfPresent(Double.self, forKey: .mean),
            std: try container.decodeIfPresent(Double.self, forKey: .std))
        if let problem = validationError() {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }
}
