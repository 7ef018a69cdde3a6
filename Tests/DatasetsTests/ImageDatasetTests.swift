import Datasets
import Foundation
import Testing

@Suite("Image datasets")
struct ImageDatasetTests {
    /// Six 2 x 3 images with labels 0...3, written as gzip image and plain label files.
    func writeSmallSet(_ directory: TemporaryDirectory, labels: [UInt8] = [2, 0, 3, 1, 3, 0]) throws -> (images: String, labels: String, pixels: [UInt8]) {
        let pixels = noiseBytes(labels.count * 6, seed: 7)
        let images = try directory.writeGzip("images", idxHeader(type: 0x08, dimensions: [UInt32(labels.count), 2, 3]) + pixels).path
        let labelPath = try directory.write("labels", idxHeader(type: 0x08, dimensions: [UInt32(labels.count)]) + labels)
        return (images, labelPath, pixels)
    }

    @Test("load reads images and labels and derives the shape and classes")
    func load() throws {
        let directory = try TemporaryDirectory()
        let files = try writeSmallSet(directory)
        let dataset = try ImageDataset.load(images: files.images, labels: files.labels)
        #expect(dataset.count == 6)
        #expect(dataset.rows == 2 && dataset.columns == 3)
        #expect(dataset.sampleShape == [1, 2, 3])
        #expect(dataset.featureCount == 6)
        #expect(dataset.classes == 4)
        #expect(dataset.labels == [2, 0, 3, 1, 3, 0])
        #expect(dataset.pixels == files.pixels)
        #expect(try ImageDataset.load(images: files.images, labels: files.labels, classes: 10).classes == 10)
        let head = dataset.prefix(2)
        #expect(head.count == 2 && head.labels == [2, 0] && head.classes == 4)
        #expect(head.pixels == Array(files.pixels.prefix(12)))
    }

    @Test("load rejects mismatched files with one line naming the file")
    func loadValidation() throws {
        let directory = try TemporaryDirectory()
        let files = try writeSmallSet(directory)
        #expect(dataError { _ = try ImageDataset.load(images: files.images, labels: files.labels, classes: 3) }
            == "\(files.labels): label 3 of sample 2 is not below the 3 classes")
        #expect(dataError { _ = try ImageDataset.load(images: files.labels, labels: files.labels) }
            == "\(files.labels): expected 3 dimensions (images x rows x columns), found 1")
        #expect(dataError { _ = try ImageDataset.load(images: files.images, labels: files.images) }
            == "\(files.images): expected 1 dimension (labels), found 3")
        let fewer = try directory.write("fewer", idxHeader(type: 0x08, dimensions: [5]) + [0, 1, 2, 3, 0])
        #expect(dataError { _ = try ImageDataset.load(images: files.images, labels: fewer) }
            == "\(fewer): holds 5 labels, but \(files.images) holds 6 images")
        let floatImages = try directory.write("float-images", idxHeader(type: 0x0D, dimensions: [1, 1, 1]) + [0, 0, 0, 0])
        #expect(dataError { _ = try ImageDataset.load(images: floatImages, labels: files.labels) }
            == "\(floatImages): expected pixels of type uint8 (0x08), found float32 (0x0d)")
        let wideLabels = try directory.write("int32-labels", idxHeader(type: 0x0C, dimensions: [1]) + [0, 0, 0, 1])
        #expect(dataError { _ = try ImageDataset.load(images: files.images, labels: wideLabels) }
            == "\(wideLabels): expected labels of type uint8 (0x08), found int32 (0x0c)")
    }

    @Test("statistics are the mean and population std of pixel / 255")
    func statistics() {
        let pixels = noiseBytes(4 * 5 * 5, seed: 3)
        let dataset = ImageDataset(pixels: pixels, labels: [0, 1, 1, 0], rows: 5, columns: 5)
        let values = pixels.map { Double($0) / 255 }
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        let computed = dataset.statistics()
        // Both are sums of the same 100 terms in Float64 in different orders: agreement to 1e-14
        // leaves ample room over the ~1e-16 rounding of each.
        #expect(abs(computed.mean - mean) < 1e-14)
        #expect(abs(computed.std - std) < 1e-14)
        let constant = ImageDataset(pixels: [51, 51, 51, 51], labels: [0, 0], rows: 1, columns: 2)
        #expect(constant.statistics().mean == 0.2 && constant.statistics().std == 0)
    }

    @Test("fill writes the normalised features and labels of the chosen samples into reused buffers")
    func fill() {
        let pixels = noiseBytes(5 * 2 * 2, seed: 11)
        let dataset = ImageDataset(pixels: pixels, labels: [4, 3, 2, 1, 0], rows: 2, columns: 2)
        let mean: Float = 0.3, std: Float = 0.4
        // Room for 3 samples plus a sentinel tail that fill must leave alone.
        var features = [Float](repeating: .nan, count: 3 * 4 + 2)
        var labels = [Int32](repeating: -1, count: 4)
        for batch in [[4, 0, 2], [1, 1], [3]] {
            dataset.fill(indices: batch, features: &features, labels: &labels, mean: mean, std: std)
            for (slot, index) in batch.enumerated() {
                for offset in 0..<4 {
                    // The same Float operations in the same order: equality is exact.
                    let expected = (Float(pixels[index * 4 + offset]) / 255 - mean) / std
                    #expect(features[slot * 4 + offset] == expected)
                }
                #expect(labels[slot] == 4 - Int32(index))
            }
        }
        #expect(features[12].isNaN && features[13].isNaN)
        #expect(labels[3] == -1)
        #expect(features.count == 14 && labels.count == 4)
    }
}

@Suite("Data configuration")
struct DataConfigTests {
    @Test("defaults point at the Debian Fashion-MNIST files")
    func defaults() throws {
        let config = try JSONDecoder().decode(DataConfig.self, from: Foundation.Data("{}".utf8))
        #expect(config == DataConfig())
        #expect(config.trainImages == "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
        #expect(config.trainLabels == "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")
        #expect(config.testImages == "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
        #expect(config.testLabels == "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
        #expect(config.mean == nil && config.std == nil)
    }

    @Test("decoding rejects unknown fields and half-given normalisation, and round-trips")
    func decoding() throws {
        func decode(_ json: String) -> Result<DataConfig, any Error> {
            Result { try JSONDecoder().decode(DataConfig.self, from: Foundation.Data(json.utf8)) }
        }
        func failure(_ json: String) -> String? {
            guard case .failure(DecodingError.dataCorrupted(let context)) = decode(json) else { return nil }
            return context.debugDescription
        }
        #expect(failure(#"{"trainImage": "x"}"#)
            == "unknown field 'trainImage' (allowed: trainImages, trainLabels, testImages, testLabels, mean, std, text, context, validationWindows)")
        #expect(failure(#"{"mean": 0.5}"#) == "give both mean and std, or neither (computed on the training set)")
        #expect(failure(#"{"mean": 0.5, "std": 0}"#) == "std must be > 0, got 0.0")
        let config = try decode(#"{"trainImages": "/data/a.gz", "mean": 0.25, "std": 0.5}"#).get()
        #expect(config.trainImages == "/data/a.gz" && config.testImages == DataConfig().testImages)
        #expect(config.mean == 0.25 && config.std == 0.5)
        let encoded = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(DataConfig.self, from: encoded) == config)
    }

    @Test("normalisation is the configured one, else the training set's")
    func normalization() {
        let training = ImageDataset(pixels: [0, 255], labels: [0, 1], rows: 1, columns: 1)
        #expect(DataConfig().normalization(training: training) == (0.5, 0.5))
        #expect(DataConfig(mean: 0.1, std: 0.2).normalization(training: training) == (0.1, 0.2))
    }

    @Test("load names a missing file and hints at the Debian package for its directory")
    func missingFiles() throws {
        let directory = try TemporaryDirectory()
        let missing = DataConfig.fashionMNISTDirectory + "/not-a-real-file-idx3-ubyte.gz"
        #expect(dataError { _ = try DataConfig(trainImages: missing).load() }
            == "\(missing): does not exist (install the Debian package dataset-fashion-mnist)")
        let elsewhere = directory.path + "/train-images"
        #expect(dataError { _ = try DataConfig(trainImages: elsewhere).load() } == "\(elsewhere): does not exist")
    }

    @Test("load checks that the test set matches the training set")
    func splitConsistency() throws {
        let directory = try TemporaryDirectory()
        let trainImages = try directory.write("train-images", idxHeader(type: 0x08, dimensions: [3, 2, 2]) + noiseBytes(12))
        let trainLabels = try directory.write("train-labels", idxHeader(type: 0x08, dimensions: [3]) + [0, 1, 2])
        let testImages = try directory.write("test-images", idxHeader(type: 0x08, dimensions: [2, 2, 2]) + noiseBytes(8))
        let testLabels = try directory.write("test-labels", idxHeader(type: 0x08, dimensions: [2]) + [2, 1])
        let config = DataConfig(trainImages: trainImages, trainLabels: trainLabels, testImages: testImages, testLabels: testLabels)
        let (training, test) = try config.load()
        #expect(training.count == 3 && test.count == 2 && test.classes == 3)

        let badLabels = try directory.write("bad-test-labels", idxHeader(type: 0x08, dimensions: [2]) + [3, 1])
        var unseenClass = config
        unseenClass.testLabels = badLabels
        #expect(dataError { _ = try unseenClass.load() } == "\(badLabels): label 3 of sample 0 is not below the 3 classes")

        let wideImages = try directory.write("wide-images", idxHeader(type: 0x08, dimensions: [2, 2, 3]) + noiseBytes(12))
        var otherSize = config
        otherSize.testImages = wideImages
        #expect(dataError { _ = try otherSize.load() }
            == "\(wideImages): images are 2 x 3, the training images (\(trainImages)) 2 x 2")
    }
}
