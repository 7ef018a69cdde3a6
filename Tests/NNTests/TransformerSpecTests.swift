import Foundation
import NN
import Support
import Testing

/// The configuration side of the transformer layers: decoding, encoding, the "over" field's
/// compatibility with existing configs, and the `transformer` expansion.
@Suite("Transformer layer specs")
struct TransformerSpecTests {
    @Test("the new types decode with their defaults and make layers of their kind")
    func decoding() throws {
        let layers = try LayerSpecTests.decode("""
            {"layers": [
                {"type": "embedding", "vocabulary": 65, "width": 32}, {"type": "positions"},
                {"type": "block", "heads": 4}, {"type": "block", "heads": 2, "mlpRatio": 2},
                {"type": "layernorm", "over": "token"}, {"type": "layernorm", "epsilon": 1e-6, "over": "sample"},
                {"type": "linear", "outputs": 65, "over": "token"}, {"type": "linear", "outputs": 3, "over": "sample"},
                {"type": "tiedhead"}
            ]}
            """)
        #expect(layers == [
            .embedding(vocabulary: 65, width: 32), .positions, .block(heads: 4, mlpRatio: 4), .block(heads: 2, mlpRatio: 2),
            .tokenLayerNorm(epsilon: 1e-5), .layerNorm(epsilon: 1e-6), .tokenLinear(outputs: 65), .linear(outputs: 3), .tiedHead,
        ])
        let kinds = layers.map { spec -> String in
            let layer: any Layer<Float> = spec.makeLayer()
            return layer.kind
        }
        #expect(kinds == ["embedding", "positions", "block", "block", "layernorm", "layernorm", "linear", "linear", "tiedhead"])
    }

    @Test("encoding writes every field and decodes back; token-wise layers write over: token")
    func roundTrip() throws {
        let specs: [LayerSpec] = [
            .embedding(vocabulary: 7, width: 8), .positions, .block(heads: 2, mlpRatio: 4), .tokenLayerNorm(epsilon: 1e-5),
            .tokenLinear(outputs: 7), .tiedHead, .linear(outputs: 3), .layerNorm(epsilon: 1e-5),
        ]
        #expect(try JSONDecoder().decode([LayerSpec].self, from: JSONEncoder().encode(specs)) == specs)
        func text(_ spec: LayerSpec) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return String(decoding: try encoder.encode(spec), as: UTF8.self)
        }
        #expect(try text(.block(heads: 2, mlpRatio: 4)) == #"{"heads":2,"mlpRatio":4,"type":"block"}"#)
        #expect(try text(.tokenLinear(outputs: 7)) == #"{"outputs":7,"over":"token","type":"linear"}"#)
        #expect(try text(.tokenLayerNorm(epsilon: 0.5)) == #"{"epsilon":0.5,"over":"token","type":"layernorm"}"#)
        #expect(try text(.embedding(vocabulary: 7, width: 8)) == #"{"type":"embedding","vocabulary":7,"width":8}"#)
        #expect(try text(.tiedHead) == #"{"type":"tiedhead"}"#)
    }

    /// A run's saved config.json is compared byte for byte when it continues: the sample-wise
    /// layers must encode as they did before "over" existed.
    @Test("existing linear and layernorm configs encode exactly as before the over field")
    func existingEncodingUnchanged() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(LayerSpec.linear(outputs: 10)), as: UTF8.self) == #"{"outputs":10,"type":"linear"}"#)
        #expect(String(decoding: try encoder.encode(LayerSpec.layerNorm(epsilon: 0.5)), as: UTF8.self) == #"{"epsilon":0.5,"type":"layernorm"}"#)
    }

    @Test("transformer expands to embedding, positions, N blocks, token layernorm and the head")
    func expansion() throws {
        #expect(LayerSpec.transformer(vocabulary: 65, blocks: 2, width: 64, heads: 4, tiedHead: true) == [
            .embedding(vocabulary: 65, width: 64), .positions, .block(heads: 4, mlpRatio: 4), .block(heads: 4, mlpRatio: 4),
            .tokenLayerNorm(epsilon: 1e-5), .tiedHead,
        ])
        let untied = LayerSpec.transformer(vocabulary: 65, blocks: 1, width: 64, heads: 4, mlpRatio: 2, tiedHead: false)
        #expect(untied == [
            .embedding(vocabulary: 65, width: 64), .positions, .block(heads: 4, mlpRatio: 2), .tokenLayerNorm(epsilon: 1e-5),
            .tokenLinear(outputs: 65),
        ])
        let model = try Sequential<Float>.build(inputShape: [16], specs: untied, maxBatch: 2)
        #expect(model.outputShape == [16, 65])
        #expect(model.parameters.specs.map(\.name).first == "0_embedding.weight")
        #expect(model.parameters.specs.map(\.name).last == "4_linear.bias")
    }
}
