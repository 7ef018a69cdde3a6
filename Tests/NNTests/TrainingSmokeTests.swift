import Linalg
import NN
import Testing

@Suite("Float32 training smoke test")
struct TrainingSmokeTests {
    /// Two classes split by the line x0 + 0.5 x1 = 0, with a margin, in 2-D.
    static func dataset(count: Int, using generator: inout SeededGenerator) -> (inputs: [Float], labels: [Int32]) {
        var inputs: [Float] = []
        var labels: [Int32] = []
        while labels.count < count {
            let point = (generator.nextGaussian(Float.self), generator.nextGaussian(Float.self))
            let side = point.0 + 0.5 * point.1
            guard abs(side) > 0.1 else { continue }
            inputs += [point.0, point.1]
            labels.append(side > 0 ? 1 : 0)
        }
        return (inputs, labels)
    }

    @Test("an MLP learns a separable problem with plain SGD")
    func mlpLearns() throws {
        var generator = SeededGenerator(seed: 61)
        let (inputs, labels) = Self.dataset(count: 256, using: &generator)
        let batch = 32
        let model = try Sequential<Float>(
            inputShape: [2], layers: [Linear(outputs: 16), ReLU(), Linear(outputs: 16), GELU(), Linear(outputs: 2)], maxBatch: batch)
        model.initialize(seed: 1)
        let loss = SoftmaxCrossEntropy<Float>()
        var logitGradient = [Float](repeating: 0, count: batch * 2)
        let learningRate: Float = 0.2

        func epoch(train: Bool) -> (loss: Double, accuracy: Double) {
            var lossSum = 0.0
            var correct = 0
            for start in stride(from: 0, to: labels.count, by: batch) {
                inputs[(2 * start)..<(2 * (start + batch))].withUnsafeBufferPointer { input in
                    labels[start..<(start + batch)].withUnsafeBufferPointer { labelBuffer in
                        let context = ForwardContext(training: train, sampleIndices: Array(start..<(start + batch)))
                        let logits = model.forward(input: input, batch: batch, context: context)
                        let result = loss.forward(logits: logits, labels: labelBuffer, batch: batch, classes: 2)
                        lossSum += result.lossSum
                        correct += result.correct
                        guard train else { return }
                        logitGradient.withUnsafeMutableBufferPointer { gradient in
                            loss.backward(logits: logits, labels: labelBuffer, batch: batch, classes: 2, scale: 1 / Float(batch), into: gradient)
                        }
                        model.parameters.zeroGradients()
                        logitGradient.withUnsafeBufferPointer { gradient in
                            model.backward(input: input, outputGradient: gradient, batch: batch, context: context)
                        }
                        let (values, gradients) = (model.parameters.values, model.parameters.gradients)
                        for index in 0..<values.count { values[index] -= learningRate * gradients[index] }
                    }
                }
            }
            return (lossSum / Double(labels.count), Double(correct) / Double(labels.count))
        }

        let before = epoch(train: false)
        for _ in 0..<30 { _ = epoch(train: true) }
        let after = epoch(train: false)
        // Chance level is loss log 2 = 0.69 and accuracy 0.5; the classes are separable with a
        // margin, so a working backward drives both far from it.
        #expect(before.loss > 0.5)
        #expect(after.loss < 0.15, "loss \(before.loss) -> \(after.loss)")
        #expect(after.loss < 0.3 * before.loss)
        #expect(after.accuracy > 0.95, "accuracy \(after.accuracy)")
    }
}
