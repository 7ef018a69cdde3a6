import Linalg
import NN
import Testing

@Suite("Softmax cross-entropy")
struct SoftmaxCrossEntropyTests {
    static let loss = SoftmaxCrossEntropy<Double>()

    static func forward(_ logits: [Double], _ labels: [Int32], classes: Int) -> (lossSum: Double, correct: Int) {
        logits.withUnsafeBufferPointer { logits in
            labels.withUnsafeBufferPointer { labels in
                loss.forward(logits: logits, labels: labels, batch: labels.count, classes: classes)
            }
        }
    }

    static func backward(_ logits: [Double], _ labels: [Int32], classes: Int, scale: Double) -> [Double] {
        var gradient = [Double](repeating: .nan, count: logits.count)
        logits.withUnsafeBufferPointer { logits in
            labels.withUnsafeBufferPointer { labels in
                gradient.withUnsafeMutableBufferPointer { gradient in
                    loss.backward(logits: logits, labels: labels, batch: labels.count, classes: classes, scale: scale, into: gradient)
                }
            }
        }
        return gradient
    }

    @Test("the loss sum equals Σ -log softmax(z)_label computed directly")
    func forwardMatchesFormula() {
        var generator = SeededGenerator(seed: 31)
        let (batch, classes) = (5, 4)
        let logits = gaussians(batch * classes, using: &generator).map { 3 * $0 }
        let labels: [Int32] = [0, 3, 1, 2, 3]
        var expected = 0.0
        for sample in 0..<batch {
            let row = logits[(sample * classes)..<((sample + 1) * classes)]
            let denominator = row.map { Double.exp($0) }.reduce(0, +)
            expected -= Double.log(Double.exp(row[sample * classes + Int(labels[sample])]) / denominator)
        }
        let result = Self.forward(logits, labels, classes: classes)
        // Two algebraically equal formulas in Float64 with logits of size ~3: ~1e-15 relative.
        #expect(abs(result.lossSum - expected) < 1e-13 * expected)
    }

    @Test("a batch of several chunks (150 samples: 64, 64 and 22) sums every sample's loss and counts every correct one")
    func severalChunks() {
        var generator = SeededGenerator(seed: 33)
        let (batch, classes) = (150, 7)
        let logits = gaussians(batch * classes, using: &generator)
        let labels = (0..<batch).map { Int32($0 % classes) }
        var (expected, correct) = (0.0, 0)
        for sample in 0..<batch {
            let row = Array(logits[(sample * classes)..<((sample + 1) * classes)])
            expected += Double.log(row.map { Double.exp($0) }.reduce(0, +)) - row[Int(labels[sample])]
            if row.firstIndex(of: row.max()!) == Int(labels[sample]) { correct += 1 }
        }
        let result = Self.forward(logits, labels, classes: classes)
        // Float64 throughout, the same terms summed in another order: ~1e-15 relative.
        #expect(abs(result.lossSum - expected) < 1e-12 * expected)
        #expect(result.correct == correct)
    }

    @Test("large logits do not overflow (the log-sum-exp shift)")
    func stability() {
        let result = Self.forward([1000, 0, -1000, 1000], [1, 0], classes: 2)
        // Sample 0: 1000 + log(1 + e^-1000) - 0 = 1000; sample 1: 1000 + log(1 + e^-2000) + 1000 = 2000.
        #expect(result.lossSum.isFinite)
        #expect(abs(result.lossSum - (1000 + 2000)) < 1e-9)
        let gradient = Self.backward([1000, 0, -1000, 1000], [1, 0], classes: 2, scale: 1)
        #expect(gradient.allSatisfy { $0.isFinite })
    }

    @Test("backward is scale (softmax - onehot), matching central differences")
    func backwardMatchesFiniteDifferences() {
        var generator = SeededGenerator(seed: 32)
        let (batch, classes) = (3, 5)
        let logits = gaussians(batch * classes, using: &generator)
        let labels: [Int32] = [4, 0, 2]
        let scale = 1.0 / 3
        let analytic = Self.backward(logits, labels, classes: classes, scale: scale)
        let h = 1e-6
        var numeric = [Double](repeating: 0, count: logits.count)
        for index in logits.indices {
            var plus = logits, minus = logits
            plus[index] += h
            minus[index] -= h
            numeric[index] = scale * (Self.forward(plus, labels, classes: classes).lossSum
                                      - Self.forward(minus, labels, classes: classes).lossSum) / (2 * h)
        }
        // Central differences: see checkGradients (truncation ~1e-12, rounding ~1e-10 here).
        #expect(relativeError(analytic, numeric) < 1e-7)
        // Each row of softmax - onehot sums to zero.
        for sample in 0..<batch {
            #expect(abs(analytic[(sample * classes)..<((sample + 1) * classes)].reduce(0, +)) < 1e-15)
        }
    }

    @Test("correct counts argmax hits, ties going to the lowest index")
    func correctCount() {
        let logits: [Double] = [
            0.1, 2.0, 0.3,   // argmax 1, label 1: correct
            5.0, 1.0, 5.0,   // tie of 0 and 2: argmax 0, label 2: wrong
            5.0, 1.0, 5.0,   // tie: argmax 0, label 0: correct
            -1, -2, -0.5,    // argmax 2, label 0: wrong
        ]
        #expect(Self.forward(logits, [1, 2, 0, 0], classes: 3).correct == 2)
    }

    @Test("Float32 agrees with Float64 to single precision")
    func singlePrecision() {
        var generator = SeededGenerator(seed: 33)
        let logits = gaussians(40, using: &generator).map { 4 * $0 }
        let labels: [Int32] = [3, 7, 0, 9]
        let single = logits.map(Float.init).withUnsafeBufferPointer { logits in
            labels.withUnsafeBufferPointer { labels in
                SoftmaxCrossEntropy<Float>().forward(logits: logits, labels: labels, batch: 4, classes: 10)
            }
        }
        let double = Self.forward(logits, labels, classes: 10)
        // Float32 rounding of logits ~4 and of exp/log: a few ulps (1e-7) per sample.
        #expect(abs(single.lossSum - double.lossSum) < 1e-5 * double.lossSum)
        #expect(single.correct == double.correct)
    }
}
