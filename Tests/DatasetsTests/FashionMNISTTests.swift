import Datasets
import Foundation
import Testing

private let installed = FileManager.default.fileExists(atPath: DataConfig().trainImages)

@Suite(
    "Fashion-MNIST from the Debian package",
    .enabled(if: installed, "needs /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)"))
struct FashionMNISTTests {
    @Test("training and test sets have the published shapes, labels and pixel statistics")
    func sets() throws {
        let (training, test) = try DataConfig().load()
        #expect(training.count == 60000 && test.count == 10000)
        #expect(training.sampleShape == [1, 28, 28] && test.sampleShape == [1, 28, 28])
        #expect(training.classes == 10 && test.classes == 10)
        // The first training image is an ankle boot, class 9.
        #expect(training.labels[0] == 9)
        // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
        var trainingCounts = [Int](repeating: 0, count: 10)
        for label in training.labels { trainingCounts[Int(label)] += 1 }
        #expect(trainingCounts == [Int](repeating: 6000, count: 10))
        var testCounts = [Int](repeating: 0, count: 10)
        for label in test.labels { testCounts[Int(label)] += 1 }
        #expect(testCounts == [Int](repeating: 1000, count: 10))

        let (mean, std) = training.statistics()
        // The commonly quoted values are 0.2860 and 0.3530, rounded to 4 digits (measured here:
        // 0.286041 and 0.353024): 1e-4 allows that rounding and nothing more.
        #expect(abs(mean - 0.2860) < 1e-4, "mean \(mean)")
        #expect(abs(std - 0.3530) < 1e-4, "std \(std)")
        #expect(DataConfig().normalization(training: training) == (mean, std))
    }
}
