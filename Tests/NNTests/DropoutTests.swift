import Linalg
import NN
import Testing

@Suite("Dropout masks")
struct DropoutTests {
    /// Dropout on all-ones input: each output row is the mask of that sample.
    static func masks(rate: Double, features: Int, context: ForwardContext) throws -> [[Double]] {
        let batch = max(context.sampleIndices.count, 1)
        let bound = try BoundLayer(Dropout<Double>(rate: rate), inputShape: [features], batch: batch)
        let output = bound.forward([Double](repeating: 1, count: batch * features), context: context)
        return (0..<batch).map { Array(output[($0 * features)..<(($0 + 1) * features)]) }
    }

    @Test("a sample's mask depends on its global index, not its position in the batch")
    func maskFollowsSampleIndex() throws {
        let first = try Self.masks(rate: 0.5, features: 64, context: ForwardContext(training: true, seed: 3, step: 5, sampleIndices: [10, 11, 12], layerIndex: 2))
        let second = try Self.masks(rate: 0.5, features: 64, context: ForwardContext(training: true, seed: 3, step: 5, sampleIndices: [12, 7], layerIndex: 2))
        #expect(first[2] == second[0])
        #expect(first[0] != first[1])
        #expect(Set(first[0]) == [0, 2])
    }

    @Test("the mask changes with the seed, the step and the layer")
    func maskKeys() throws {
        let base = ForwardContext(training: true, seed: 3, step: 5, sampleIndices: [10], layerIndex: 2)
        let reference = try Self.masks(rate: 0.5, features: 64, context: base)[0]
        var otherSeed = base
        otherSeed.seed = 4
        var otherStep = base
        otherStep.step = 6
        var otherLayer = base
        otherLayer.layerIndex = 3
        for context in [otherSeed, otherStep, otherLayer] {
            // Two independent masks of 64 fair coins agree everywhere with probability 2^-64.
            #expect(try Self.masks(rate: 0.5, features: 64, context: context)[0] != reference)
        }
    }

    @Test("rate 0, and inference at any rate, are the identity")
    func identity() throws {
        var generator = SeededGenerator(seed: 51)
        let input = gaussians(3 * 10, using: &generator)
        let training = ForwardContext(training: true, seed: 1, step: 1, sampleIndices: [0, 1, 2])
        let zeroRate = try BoundLayer(Dropout<Double>(rate: 0), inputShape: [10], batch: 3)
        #expect(zeroRate.forward(input, context: training) == input)
        #expect(zeroRate.backward(input, outputGradient: input, context: training).input == input)
        let inference = try BoundLayer(Dropout<Double>(rate: 0.7), inputShape: [10], batch: 3)
        #expect(inference.forward(input, context: .inference) == input)
        #expect(inference.backward(input, outputGradient: input, context: .inference).input == input)
    }

    @Test("the kept fraction is close to 1 - rate and the mean output to the input", arguments: [0.1, 0.3, 0.75])
    func keptFraction(rate: Double) throws {
        let features = 1000
        let samples = Array(0..<100)
        let masks = try Self.masks(rate: rate, features: features, context: ForwardContext(training: true, seed: 8, step: 2, sampleIndices: samples))
        let values = masks.flatMap { $0 }
        let kept = Double(values.filter { $0 != 0 }.count) / Double(values.count)
        // 1e5 Bernoulli draws: standard deviation sqrt(rate (1 - rate) / 1e5) <= 0.0016; 0.01 is > 6 sigma.
        #expect(abs(kept - (1 - rate)) < 0.01)
        #expect(values.allSatisfy { $0 == 0 || abs($0 - 1 / (1 - rate)) < 1e-15 })
        let mean = values.reduce(0, +) / Double(values.count)
        #expect(abs(mean - 1) < 0.01 / (1 - rate))
    }

    @Test("the noise is uniform: DropoutNoise's numbers fill [0, 1) evenly")
    func noiseUniformity() {
        var bins = [Int](repeating: 0, count: 10)
        var inRange = true
        let key = DropoutNoise.streamKey(seed: 1, step: 0, sample: 0, layer: 0)
        for element in 0..<100_000 {
            let value = DropoutNoise.uniform(key: key, element: element)
            inRange = inRange && value >= 0 && value < 1
            bins[min(Int(value * 10), 9)] += 1
        }
        #expect(inRange)
        // 1e4 expected per bin, standard deviation ~95: 500 is > 5 sigma.
        #expect(bins.allSatisfy { abs($0 - 10_000) < 500 }, "\(bins)")
        #expect(DropoutNoise.uniform(seed: 1, step: 0, sample: 0, layer: 0, element: 5) == DropoutNoise.uniform(key: key, element: 5))
    }

    @Test("Float32 and Float64 draw the same mask")
    func precisionIndependent() throws {
        let context = ForwardContext(training: true, seed: 2, step: 9, sampleIndices: [4, 8])
        let double = try Self.masks(rate: 0.4, features: 50, context: context).flatMap { $0 }
        let layer = Dropout<Float>(rate: 0.4)
        let store = ParameterStore<Float>(tensors: [])
        layer.bind(store: store, parameterIndices: [], inputShape: [50], maxBatch: 2)
        var output = [Float](repeating: 0, count: 100)
        [Float](repeating: 1, count: 100).withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                layer.forward(input: input, output: output, batch: 2, context: context)
            }
        }
        #expect(output.map { $0 != 0 } == double.map { $0 != 0 })
    }
}
