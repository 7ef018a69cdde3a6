import Foundation
import NN
import Testing

/// Fuzz cases per test: a few thousand by default, `SPECTRAIN_FUZZ_CASES` for the long run
/// (`SPECTRAIN_FUZZ_CASES=100000 swift test --skip-build --filter LayerFootprintTests`).
private let fuzzCases = ProcessInfo.processInfo.environment["SPECTRAIN_FUZZ_CASES"].flatMap { Int($0) } ?? 2000

/// A small deterministic generator for the fuzz cases (SplitMix64).
private struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `range`.
    mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }
}

/// `LayerFootprint` for the transformer layers: agreement with the built model, the scratch it
/// counts, and the same rejections as `Sequential`.
@Suite("Layer footprints")
struct LayerFootprintTests {
    /// Fails unless the footprints list the built model's output and parameter shapes, layer by layer.
    static func expectAgreement(_ specs: [LayerSpec], inputShape: [Int], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let footprints = try LayerFootprint.of(specs, inputShape: inputShape)
        let model = try Sequential<Float>.build(inputShape: inputShape, specs: specs, maxBatch: 1)
        #expect(footprints.map(\.outputShape) == model.layerOutputShapes, sourceLocation: sourceLocation)
        #expect(footprints.map(\.outputCount) == model.layerOutputShapes.map { $0.reduce(1, *) }, sourceLocation: sourceLocation)
        for (index, footprint) in footprints.enumerated() {
            let specsOfLayer = model.parameterIndices[index].map { model.parameters.specs[$0] }
            #expect(footprint.parameterShapes == specsOfLayer.map(\.shape), "layer \(index)", sourceLocation: sourceLocation)
            #expect(footprint.parameterCount == specsOfLayer.map(\.count).reduce(0, +), "layer \(index)", sourceLocation: sourceLocation)
        }
        #expect(footprints.map(\.parameterCount).reduce(0, +) == model.parameters.count, sourceLocation: sourceLocation)
    }

    @Test("every new spec: output and parameter shapes as the built model's", arguments: [false, true])
    func agreement(tied: Bool) throws {
        try Self.expectAgreement(LayerSpec.transformer(vocabulary: 7, blocks: 2, width: 8, heads: 2, mlpRatio: 3, tiedHead: tied), inputShape: [5])
        try Self.expectAgreement(
            [.embedding(vocabulary: 5, width: 6), .tokenLinear(outputs: 4), .gelu, .tokenLinear(outputs: 6), .tiedHead, .linear(outputs: 2)],
            inputShape: [3])
        try Self.expectAgreement([.tokenLayerNorm(epsilon: 1e-5), .tokenLinear(outputs: 3), .layerNorm(epsilon: 1e-5)], inputShape: [2, 3, 4])
        try Self.expectAgreement([.positions, .block(heads: 3, mlpRatio: 1), .flatten, .linear(outputs: 2)], inputShape: [4, 6])
    }

    @Test("per-sample scratch of a block counts its activations, gradients, attention and statistics")
    func blockScratch() throws {
        let (tokens, width, heads, ratio) = (16, 64, 4, 4)
        let footprint = try LayerFootprint.of([.block(heads: heads, mlpRatio: ratio)], inputShape: [tokens, width])[0]
        let stream = tokens * width
        // 7 stream-wide activations and 2 gradients, attention's QKV, dQKV (3 each), A, dA;
        // FC, GELU outputs, GELU's kept derivative and their 2 gradients at ratio x the width; H T² probabilities; two
        // LayerNorms' mean and 1/deviation per token; T² score gradients per parallel worker,
        // bounded by one per sample.
        #expect(footprint.scratchPerSample == 15 * stream + 5 * ratio * stream + (heads + 1) * tokens * tokens + 4 * tokens)
        #expect(footprint.fixedScratch == 0)
        #expect(footprint.parameterCount == 12 * width * width + 13 * width)
        let norm = try LayerFootprint.of([.tokenLayerNorm(epsilon: 1e-5)], inputShape: [tokens, width])[0]
        #expect(norm.scratchPerSample == 2 * tokens && norm.parameterShapes == [[width], [width]])
        let embedding = try LayerFootprint.of([.embedding(vocabulary: 65, width: width), .tiedHead], inputShape: [tokens])
        #expect(embedding.map(\.parameterCount) == [65 * width, 0])
        #expect(embedding[1].outputShape == [tokens, 65] && embedding[1].parameterShapes.isEmpty)
    }

    /// Model input shapes and specs Sequential rejects, or whose sizes overflow, with the problem.
    static let rejectionCases: [(specs: [LayerSpec], inputShape: [Int], message: String)] = {
        let (huge, hugeWidth, maximumVocabulary) = (1 << 40, 1 << 30, 1 << 24)
        return [
            ([.embedding(vocabulary: 7, width: 8)], [5, 4], "layers[0]: needs a [tokens] input of token ids, got [5, 4]"),
            ([.positions], [20], "layers[0]: needs a [tokens, width] input, got [20]"),
            ([.embedding(vocabulary: 7, width: 8), .block(heads: 3, mlpRatio: 4)], [5],
             "layers[1].heads: the width 8 is not a multiple of the 3 heads"),
            ([.block(heads: 2, mlpRatio: 4)], [5, 4, 2], "layers[0]: needs a [tokens, width] input, got [5, 4, 2]"),
            ([.positions, .tiedHead], [5, 8], "layers[1]: a tied head needs an earlier embedding layer whose weight it shares"),
            ([.embedding(vocabulary: 7, width: 8), .tokenLinear(outputs: 6), .tiedHead], [5],
             "layers[2]: input width 6 differs from the embedding's width 8"),
            ([.embedding(vocabulary: maximumVocabulary, width: hugeWidth), .positions], [huge],
             "layers[0].width: output 1099511627776 x 1073741824 is too large to represent"),
            ([.tokenLinear(outputs: hugeWidth)], [huge, 4], "layers[0].outputs: output 1099511627776 x 1073741824 is too large to represent"),
            ([.block(heads: 1, mlpRatio: 1024)], [1, 1 << 60], "layers[0].mlpRatio: MLP width 1024 x 1152921504606846976 is too large to represent"),
        ]
    }()

    @Test("what Sequential rejects is a one-line LayerShapeProblem naming layer and field", arguments: rejectionCases.indices)
    func rejections(index: Int) {
        let (specs, inputShape, message) = Self.rejectionCases[index]
        #expect(throws: LayerShapeProblem.self) { try LayerFootprint.of(specs, inputShape: inputShape) }
        do {
            _ = try LayerFootprint.of(specs, inputShape: inputShape)
        } catch {
            #expect(error.description == message)
        }
    }

    /// Random chains of transformer-style specs on small shapes: the footprint and the built
    /// model agree on success, on failure (both reject, each in one line naming the layer), and
    /// on every shape; the same chains with huge sizes give a footprint or a one-line problem,
    /// never a trap.
    @Test("fuzz: footprints accept exactly what Sequential builds, with the same shapes; huge sizes never trap")
    func fuzz() throws {
        var generator = SplitMix64(state: 0x5EED_F007)
        for _ in 0..<fuzzCases {
            let small = generator.next(in: 0...3) != 0
            func size(_ range: ClosedRange<Int>) -> Int {
                small ? generator.next(in: range) : generator.next(in: 1...4) << generator.next(in: 0...62)
            }
            var inputShape = generator.next(in: 0...1) == 0 ? [size(1...6)] : [size(1...6), size(1...8)]
            if generator.next(in: 0...9) == 0 { inputShape.append(size(1...3)) }
            let specs: [LayerSpec] = (0..<generator.next(in: 1...5)).map { _ in
                switch generator.next(in: 0...8) {
                case 0: .embedding(vocabulary: size(1...9), width: size(1...8))
                case 1: .positions
                case 2: .block(heads: size(1...4), mlpRatio: size(1...3))
                case 3: .tiedHead
                case 4: .tokenLinear(outputs: size(1...8))
                case 5: .tokenLayerNorm(epsilon: 1e-5)
                case 6: .linear(outputs: size(1...8))
                case 7: .layerNorm(epsilon: 1e-5)
                default: .gelu
                }
            }
            let footprints: [LayerFootprint]?
            do {
                footprints = try LayerFootprint.of(specs, inputShape: inputShape)
            } catch {
                #expect(!error.description.contains("\n") && error.description.hasPrefix("layers[\(error.layer)]"), "\(error)")
                footprints = nil
            }
            guard small else { continue }
            do {
                let model = try Sequential<Float>.build(inputShape: inputShape, specs: specs, maxBatch: 1)
                #expect(footprints?.map(\.outputShape) == model.layerOutputShapes, "\(specs) on \(inputShape)")
                #expect(footprints?.map(\.parameterCount).reduce(0, +) == model.parameters.count, "\(specs) on \(inputShape)")
            } catch {
                #expect(footprints == nil, "Sequential rejects \(specs) on \(inputShape) (\(error)) but the footprint accepts it")
                #expect(!error.description.contains("\n") && error.description.hasPrefix("layer "), "\(error)")
            }
        }
    }
}
