import Linalg
import NN
import Testing

@Suite("Factored weight gradients")
struct FactoredGradientLayerTests {
    /// flatten -> linear 12 -> relu -> linear 4 on [2, 3, 3] inputs.
    static func model(maxBatch: Int) throws -> Sequential<Double> {
        try Sequential<Double>(inputShape: [2, 3, 3], layers: [Flatten(), Linear(outputs: 12), ReLU(), Linear(outputs: 4)], maxBatch: maxBatch)
    }

    /// Back-propagates a random output gradient of `batch` samples, gradients zeroed first when asked.
    static func backward(_ model: Sequential<Double>, batch: Int, zero: Bool, _ generator: inout SeededGenerator) {
        let input = (0..<(batch * model.inputCount)).map { _ in generator.nextGaussian(Double.self) }
        let outputGradient = (0..<(batch * model.outputCount)).map { _ in generator.nextGaussian(Double.self) }
        let context = ForwardContext(training: true, seed: 1, step: 0, sampleIndices: Array(0..<batch))
        input.withUnsafeBufferPointer { input in
            _ = model.forward(input: input, batch: batch, context: context)
            if zero { model.parameters.zeroGradients() }
            outputGradient.withUnsafeBufferPointer { gradient in
                model.backward(input: input, outputGradient: gradient, batch: batch, context: context)
            }
        }
    }

    /// The kept factors multiply to the weight gradient backward accumulated (one reassociation:
    /// 1e-13 relative in Float64); only the layers chosen keep them; the rows follow the batch.
    @Test("dY^T X of a kept layer is its weight gradient")
    func keptFactorsMultiplyToTheGradient() throws {
        var generator = SeededGenerator(seed: 5)
        let model = try Self.model(maxBatch: 6)
        model.initialize(seed: 2)
        let first = try #require(model.parameters.index(of: "1_linear.weight"))
        let kept = model.keepFactoredGradients(batch: 6) { tensor, rows in
            #expect(rows == 6)
            return tensor == first
        }
        #expect(kept == [first])
        for batch in [6, 3] {
            Self.backward(model, batch: batch, zero: true, &generator)
            let factored = try #require(model.factoredGradient(tensor: first))
            #expect(factored.rank == batch && factored.rows == 12 && factored.columns == 18)
            let gradient = Matrix(rows: 12, columns: 18, elements: Array(model.parameters.gradients(at: first)))
            #expect(factored.matrix.relativeDistance(to: gradient) < 1e-13)
        }
        #expect(model.factoredGradient(tensor: try #require(model.parameters.index(of: "3_linear.weight"))) == nil)
    }

    /// A second backward into the same gradient makes the factors describe only part of it: none
    /// are given until the gradients are zeroed and a backward runs again.
    @Test("no factors for a gradient accumulated over two backward passes")
    func accumulatedGradientHasNoFactors() throws {
        var generator = SeededGenerator(seed: 6)
        let model = try Self.model(maxBatch: 4)
        model.initialize(seed: 2)
        let first = try #require(model.parameters.index(of: "1_linear.weight"))
        model.keepFactoredGradients(batch: 4) { _, _ in true }
        Self.backward(model, batch: 4, zero: true, &generator)
        #expect(model.factoredGradient(tensor: first) != nil)
        Self.backward(model, batch: 4, zero: false, &generator)
        #expect(model.factoredGradient(tensor: first) == nil)
        Self.backward(model, batch: 4, zero: false, &generator)
        #expect(model.factoredGradient(tensor: first) == nil)
        model.parameters.zeroGradients()
        #expect(model.factoredGradient(tensor: first) == nil)
        Self.backward(model, batch: 4, zero: true, &generator)
        #expect(model.factoredGradient(tensor: first) != nil)
    }
}
