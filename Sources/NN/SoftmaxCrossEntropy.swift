import Linalg

/// Softmax followed by the negative log-likelihood of the true class, per sample, computed from
/// the logits with the log-sum-exp shift so large logits do not overflow (the exponential is
/// `elementwiseExp`, within 2 ulp in Float32; samples are spread over the cores):
///
///     m = max_j z_j,   loss = m + log Σ_j exp(z_j - m) - z_label
///     dloss/dz_j = softmax(z)_j - [j = label]
package final class SoftmaxCrossEntropy<Scalar: LinalgScalar>: Sendable {
    package init() {}

    /// Samples per chunk of the forward: chunks are spread over the cores and their partial sums
    /// added in chunk order, so the loss does not depend on the number of cores.
    static var chunkSamples: Int { 64 }

    /// The loss summed (not averaged) over the batch, accumulated in Double, and the number of
    /// samples whose largest logit (the lowest index on ties) is the label.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(
        logits: UnsafeBufferPointer<Scalar>, labels: UnsafeBufferPointer<Int32>, batch: Int, classes: Int
    ) -> (lossSum: Double, correct: Int) {
        Self.checkShapes(logits: logits.count, labels: labels, batch: batch, classes: classes)
        let chunks = ParallelLoop.chunkCount(batch, size: Self.chunkSamples)
        return withUnsafeTemporaryAllocation(of: (lossSum: Double, correct: Int).self, capacity: max(chunks, 1)) { parts in
            let parts = parts.baseAddress!
            ParallelLoop.forEachChunk(count: batch, size: Self.chunkSamples) { chunk, samples, _ in
                var (lossSum, correct) = (0.0, 0)
                for sample in samples {
                    let z = logits.baseAddress! + sample * classes
                    let label = Self.label(labels, sample: sample, classes: classes)
                    var predicted = 0
                    for index in 1..<classes where z[index] > z[predicted] { predicted = index }
                    let maximum = z[predicted]
                    var sum: Scalar = 0
                    for index in 0..<classes { sum += Scalar.elementwiseExp(z[index] - maximum) }
                    lossSum += Double(maximum + Scalar.log(sum) - z[label])
                    if predicted == label { correct += 1 }
                }
                (parts + chunk).initialize(to: (lossSum, correct))
            }
            var total = (lossSum: 0.0, correct: 0)
            for chunk in 0..<chunks {
                total.lossSum += parts[chunk].lossSum
                total.correct += parts[chunk].correct
            }
            return total
        }
    }

    /// Writes `scale · (softmax(z) - onehot(label))` for every sample (the trainer passes
    /// scale = 1/global batch, making the gradient that of the mean loss).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        logits: UnsafeBufferPointer<Scalar>, labels: UnsafeBufferPointer<Int32>, batch: Int, classes: Int,
        scale: Scalar, into gradient: UnsafeMutableBufferPointer<Scalar>
    ) {
        Self.checkShapes(logits: logits.count, labels: labels, batch: batch, classes: classes)
        precondition(gradient.count >= batch * classes, "SoftmaxCrossEntropy.backward: gradient has \(gradient.count) elements for \(batch) x \(classes)")
        ParallelLoop.forEach(count: batch) { sample, _ in
            let z = logits.baseAddress! + sample * classes
            let dz = gradient.baseAddress! + sample * classes
            let label = Self.label(labels, sample: sample, classes: classes)
            Softmax.write(from: z, to: dz, count: classes, scale: scale)
            dz[label] -= scale
        }
    }

    private static func checkShapes(logits: Int, labels: UnsafeBufferPointer<Int32>, batch: Int, classes: Int) {
        precondition(classes >= 1, "SoftmaxCrossEntropy: classes must be at least 1, got \(classes)")
        precondition(logits >= batch * classes, "SoftmaxCrossEntropy: \(logits) logits for \(batch) x \(classes)")
        precondition(labels.count >= batch, "SoftmaxCrossEntropy: \(labels.count) labels for a batch of \(batch)")
    }

    private static func label(_ labels: UnsafeBufferPointer<Int32>, sample: Int, classes: Int) -> Int {
        let label = Int(labels[sample])
        precondition(label >= 0 && label < classes, "SoftmaxCrossEntropy: label \(label) of sample \(sample) is outside 0..<\(classes)")
        return label
    }
}
