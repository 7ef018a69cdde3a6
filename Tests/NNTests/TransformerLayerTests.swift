import Linalg
import NN
import Testing

/// The layers of a GPT-style language model one by one: gradients against finite differences
/// (`checkGradients` explains the 1e-6 tolerance), parameter layouts and the shapes they refuse.
@Suite("Transformer layers")
struct TransformerLayerTests {
    /// `count` token ids in 0..<vocabulary, as Scalar values, with repeats when count > vocabulary.
    static func tokenIDs(_ count: Int, vocabulary: Int, using generator: inout SeededGenerator) -> [Double] {
        (0..<count).map { _ in Double(generator.next() % UInt64(vocabulary)) }
    }

    /// A bound layer at standard normal parameters with a standard normal input.
    static func randomLayer(_ layer: any Layer<Double>, inputShape: [Int], batch: Int, seed: UInt64) throws -> (BoundLayer, [Double]) {
        var generator = SeededGenerator(seed: seed)
        let bound = try BoundLayer(layer, inputShape: inputShape, batch: batch)
        randomizeParameters(bound.store, using: &generator)
        return (bound, gaussians(bound.inputCount, using: &generator))
    }

    @Test("embedding: rows of the weight by id, and the weight gradient by scatter-add (ids repeat)")
    func embeddingGradient() throws {
        let (vocabulary, width, tokens, batch) = (7, 4, 6, 3)
        var generator = SeededGenerator(seed: 41)
        let bound = try BoundLayer(TokenEmbedding<Double>(vocabulary: vocabulary, width: width), inputShape: [tokens], batch: batch)
        randomizeParameters(bound.store, using: &generator)
        // 18 ids of 7 values: several repeat, so a scatter that overwrites instead of adding fails.
        let ids = Self.tokenIDs(batch * tokens, vocabulary: vocabulary, using: &generator)
        #expect(Set(ids).count < ids.count)
        #expect(bound.outputShape == [tokens, width])
        #expect(bound.store.specs.map(\.name) == ["weight"] && bound.store.specs[0].shape == [vocabulary, width])
        let output = bound.forward(ids)
        for (row, id) in ids.enumerated() {
            let expected = Array(bound.store.values[(Int(id) * width)..<((Int(id) + 1) * width)])
            #expect(Array(output[(row * width)..<((row + 1) * width)]) == expected, "row \(row)")
        }
        let result = checkGradients(bound, input: ids, checkInput: false)
        #expect(result.parameters < 1e-6, "\(result)")
        let outputGradient = gaussians(bound.outputCount, using: &generator)
        #expect(bound.backward(ids, outputGradient: outputGradient).input == [Double](repeating: 0, count: ids.count))
    }

    @Test("positions: adds its weight to every sample; gradients match")
    func positionsGradient() throws {
        let (bound, input) = try Self.randomLayer(PositionEmbedding<Double>(), inputShape: [5, 4], batch: 3, seed: 42)
        #expect(bound.store.specs.map(\.shape) == [[5, 4]])
        let output = bound.forward(input)
        for index in input.indices {
            #expect(output[index] == input[index] + bound.store.values[index % 20])
        }
        let result = checkGradients(bound, input: input)
        #expect(result.input < 1e-6 && result.parameters < 1e-6, "\(result)")
    }

    @Test("token-wise linear: weight [outputs, C] shared by all tokens; gradients match", arguments: [
        [5, 4], [2, 3, 4], [4],
    ])
    func tokenLinearGradient(inputShape: [Int]) throws {
        let (bound, input) = try Self.randomLayer(Linear<Double>(outputs: 3, over: .token), inputShape: inputShape, batch: 2, seed: 43)
        #expect(bound.outputShape == inputShape.dropLast() + [3])
        #expect(bound.store.specs.map(\.shape) == [[3, 4], [3]])
        let result = checkGradients(bound, input: input)
        #expect(result.input < 1e-6 && result.parameters < 1e-6, "\(result)")
    }

    @Test("token-wise linear equals the sample-wise linear applied to each token alone")
    func tokenLinearIsPerToken() throws {
        let (tokenWise, input) = try Self.randomLayer(Linear<Double>(outputs: 3, over: .token), inputShape: [5, 4], batch: 2, seed: 44)
        let single = try BoundLayer(Linear<Double>(outputs: 3), inputShape: [4], batch: 10)
        _ = single.store.values.update(from: tokenWise.store.values)
        #expect(single.forward(input) == tokenWise.forward(input))
    }

    @Test("token-wise layernorm: scale and shift of size C; each token normalised; gradients match")
    func tokenLayerNormGradient() throws {
        let (tokens, width, batch) = (5, 6, 2)
        let (bound, input) = try Self.randomLayer(LayerNorm<Double>(over: .token), inputShape: [tokens, width], batch: batch, seed: 45)
        #expect(bound.store.specs.map(\.shape) == [[width], [width]])
        let result = checkGradients(bound, input: input)
        #expect(result.input < 1e-6 && result.parameters < 1e-6, "\(result)")
        // At scale 1 and shift 0 every token has mean 0 and variance var/(var + ε) (ε = 1e-5,
        // standard normal tokens): a normalisation over the whole sample leaves per-token means
        // of order 0.5.
        bound.store.values.update(repeating: 0)
        bound.store.values[0..<width].update(repeating: 1)
        let output = bound.forward(input)
        for row in 0..<(batch * tokens) {
            let values = output[(row * width)..<((row + 1) * width)]
            let mean = values.reduce(0, +) / Double(width)
            #expect(abs(mean) < 1e-12, "row \(row)")
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
            #expect(abs(variance - 1) < 1e-3, "row \(row)")
        }
    }

    @Test("block: parameter names and shapes as GPT-2's, output [T, C]")
    func blockLayout() throws {
        let bound = try BoundLayer(TransformerBlock<Double>(heads: 2, mlpRatio: 3), inputShape: [5, 8], batch: 1)
        #expect(bound.outputShape == [5, 8])
        #expect(bound.store.specs.map(\.name) == [
            "ln1.scale", "ln1.shift", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
            "ln2.scale", "ln2.shift", "mlp.fc.weight", "mlp.fc.bias", "mlp.proj.weight", "mlp.proj.bias",
        ])
        #expect(bound.store.specs.map(\.shape) == [
            [8], [8], [24, 8], [24], [8, 8], [8], [8], [8], [24, 8], [24], [8, 24], [8],
        ])
    }

    /// Parameters at half a standard normal keep the attention softmax and GELU away from
    /// saturation without making them linear, so every term of the backward is exercised.
    @Test("block: input and every parameter gradient match finite differences", arguments: [
        (2, 5, 8, 2, 4), (1, 3, 6, 3, 2), (3, 1, 4, 1, 1),
    ])
    func blockGradient(batch: Int, tokens: Int, width: Int, heads: Int, ratio: Int) throws {
        let (bound, input) = try Self.randomLayer(
            TransformerBlock<Double>(heads: heads, mlpRatio: ratio), inputShape: [tokens, width], batch: batch, seed: 46)
        for index in bound.store.values.indices { bound.store.values[index] *= 0.5 }
        let result = checkGradients(bound, input: input)
        #expect(result.input < 1e-6 && result.parameters < 1e-6, "\(result)")
    }

    @Test("block: backward adds to the parameter gradients, the same ones without an input gradient")
    func blockAccumulation() throws {
        let (bound, input) = try Self.randomLayer(TransformerBlock<Double>(heads: 2), inputShape: [4, 8], batch: 2, seed: 47)
        var generator = SeededGenerator(seed: 48)
        let outputGradient = gaussians(bound.outputCount, using: &generator)
        let withInput = bound.backward(input, outputGradient: outputGradient)
        let withoutInput = bound.backward(input, outputGradient: outputGradient, wantInputGradient: false)
        #expect(withInput.parameters == withoutInput.parameters)
        #expect(withInput.parameters.contains { $0 != 0 })
    }

    @Test("tied head: logits X E^T against the embedding's weight, and its input gradient")
    func tiedHeadAlone() throws {
        let (vocabulary, width, tokens, batch) = (7, 4, 3, 2)
        var generator = SeededGenerator(seed: 49)
        let store = ParameterStore<Double>(tensors: [("embedding", [vocabulary, width])])
        randomizeParameters(store, using: &generator)
        let head = TiedHead<Double>()
        head.tie(toEmbeddingWeight: 0, shape: [vocabulary, width])
        #expect(try head.outputShape(for: [tokens, width]) == [tokens, vocabulary])
        #expect(head.parameterShapes(inputShape: [tokens, width]).isEmpty)
        head.bind(store: store, parameterIndices: [], inputShape: [tokens, width], maxBatch: batch)
        let input = gaussians(batch * tokens * width, using: &generator)
        func forward(_ input: [Double]) -> [Double] {
            var output = [Double](repeating: .nan, count: batch * tokens * vocabulary)
            input.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { head.forward(input: input, output: $0, batch: batch, context: .inference) }
            }
            return output
        }
        let output = forward(input)
        for row in 0..<(batch * tokens) {
            for id in 0..<vocabulary {
                let expected = (0..<width).map { input[row * width + $0] * store.values[id * width + $0] }.reduce(0, +)
                #expect(abs(output[row * vocabulary + id] - expected) < 1e-12)
            }
        }
        let weights = gaussians(output.count, using: &generator)
        var inputGradient = [Double](repeating: .nan, count: input.count)
        store.zeroGradients()
        input.withUnsafeBufferPointer { input in
            output.withUnsafeBufferPointer { output in
                weights.withUnsafeBufferPointer { weights in
                    inputGradient.withUnsafeMutableBufferPointer {
                        head.backward(input: input, output: output, outputGradient: weights, inputGradient: $0, batch: batch, context: .inference)
                    }
                }
            }
        }
        // dL/dx for L = Σ r ⊙ logits; see checkGradients for the step and tolerance.
        let h = 1e-6
        let numeric = input.indices.map { index in
            var (plus, minus) = (input, input)
            plus[index] += h
            minus[index] -= h
            let difference = zip(zip(forward(plus), forward(minus)), weights).map { ($0.0 - $0.1) * $1 }.reduce(0, +)
            return difference / (2 * h)
        }
        #expect(relativeError(inputGradient, numeric) < 1e-6)
        #expect(Array(store.gradients).contains { $0 != 0 })
    }

    @Test("shapes the new layers cannot take are one-line ModelErrors naming the layer", arguments: [
        ("embedding", [5, 4]), ("positions", [20]), ("positions", [2, 5, 4]), ("block", [5, 7]), ("block", [20]),
        ("tiedhead", [5, 4]),
    ])
    func badShapes(kind: String, inputShape: [Int]) throws {
        let layer: any Layer<Double> = switch kind {
        case "embedding": TokenEmbedding(vocabulary: 3, width: 4)
        case "positions": PositionEmbedding()
        case "block": TransformerBlock(heads: 2)
        default: TiedHead()
        }
        let error = #expect(throws: ModelError.self) { try layer.outputShape(for: inputShape) }
        guard let error else { return }
        #expect(!error.description.contains("\n") && error.description.hasPrefix("layer \(kind): input shape \(inputShape): "), "\(error)")
    }
}
