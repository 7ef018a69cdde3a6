import Foundation
import NN
import Support
import Testing

@Suite("LayerSpec decoding")
struct LayerSpecTests {
    /// A config holding a layer list, as a training config does.
    struct ModelConfig: Decodable, Equatable {
        var layers: [LayerSpec]
    }

    static func decode(_ json: String) throws(ConfigurationError) -> [LayerSpec] {
        try ConfigurationFile.decode(ModelConfig.self, from: Data(json.utf8), path: "model.json").layers
    }

    @Test("every type decodes, with its defaults")
    func goodConfigs() throws {
        let layers = try Self.decode("""
            {"layers": [
                {"type": "conv2d", "outputs": 32, "kernel": 3, "stride": 1, "padding": 1},
                {"type": "conv2d", "outputs": 8, "kernel": 5},
                {"type": "relu"}, {"type": "gelu"},
                {"type": "maxpool", "kernel": 2, "stride": 2},
                {"type": "avgpool", "kernel": 3},
                {"type": "maxpool", "kernel": 3, "stride": 1},
                {"type": "flatten"},
                {"type": "layernorm"}, {"type": "layernorm", "epsilon": 1e-6},
                {"type": "dropout", "rate": 0.1}, {"type": "dropout", "rate": 0},
                {"type": "linear", "outputs": 256}
            ]}
            """)
        #expect(layers == [
            .conv2d(outputs: 32, kernel: 3, stride: 1, padding: 1),
            .conv2d(outputs: 8, kernel: 5, stride: 1, padding: 0),
            .relu, .gelu,
            .maxPool(kernel: 2, stride: 2),
            .avgPool(kernel: 3, stride: 3),
            .maxPool(kernel: 3, stride: 1),
            .flatten,
            .layerNorm(epsilon: 1e-5), .layerNorm(epsilon: 1e-6),
            .dropout(rate: 0.1), .dropout(rate: 0),
            .linear(outputs: 256),
        ])
        let kinds = layers.map { spec -> String in
            let layer: any Layer<Float> = spec.makeLayer()
            return layer.kind
        }
        #expect(kinds == ["conv2d", "conv2d", "relu", "gelu", "maxpool", "avgpool", "maxpool", "flatten",
                          "layernorm", "layernorm", "dropout", "dropout", "linear"])
    }

    @Test("encoding writes every field and decodes back to the same specs")
    func roundTrip() throws {
        let specs: [LayerSpec] = [
            .conv2d(outputs: 4, kernel: 3, stride: 2, padding: 1), .avgPool(kernel: 2, stride: 2), .flatten,
            .layerNorm(epsilon: 1e-5), .dropout(rate: 0.25), .linear(outputs: 10), .relu, .gelu, .maxPool(kernel: 3, stride: 1),
        ]
        let data = try JSONEncoder().encode(specs)
        #expect(try JSONDecoder().decode([LayerSpec].self, from: data) == specs)
        let text = String(decoding: try JSONEncoder().encode(LayerSpec.conv2d(outputs: 4, kernel: 3, stride: 1, padding: 0)), as: UTF8.self)
        #expect(text.contains("\"padding\":0") && text.contains("\"stride\":1") && text.contains("\"type\":\"conv2d\""))
    }

    @Test("bad configs give one-line errors naming the field and the problem", arguments: [
        (#"{"type": "dense", "outputs": 3}"#,
         "field 'layers[0].type': 'dense' is not one of linear, relu, gelu, flatten, dropout, layernorm, conv2d, maxpool, avgpool, "
            + "embedding, positions, block, tiedhead"),
        (#"{"outputs": 3}"#, "missing field 'layers[0].type'"),
        (#"{"type": "linear"}"#, "missing field 'layers[0].outputs'"),
        (#"{"type": "linear", "outputs": 0}"#, "field 'layers[0].outputs': must be >= 1, got 0"),
        (#"{"type": "linear", "outputs": "three"}"#, "field 'layers[0].outputs': expected an integer"),
        (#"{"type": "linear", "outputs": 3, "bias": false}"#,
         "field 'layers[0]': unknown field 'bias' (allowed: type, outputs, over)"),
        (#"{"type": "relu", "rate": 0.5}"#, "field 'layers[0]': unknown field 'rate' (allowed: type)"),
        (#"{"type": "dropout", "rate": 1.5}"#, "field 'layers[0].rate': must be in [0, 1), got 1.5"),
        (#"{"type": "dropout", "rate": 1}"#, "field 'layers[0].rate': must be in [0, 1), got 1.0"),
        (#"{"type": "dropout", "rate": -0.1}"#, "field 'layers[0].rate': must be in [0, 1), got -0.1"),
        (#"{"type": "conv2d", "outputs": 4, "kernel": 0}"#, "field 'layers[0].kernel': must be >= 1, got 0"),
        (#"{"type": "conv2d", "outputs": 4, "kernel": 3, "padding": -1}"#, "field 'layers[0].padding': must be >= 0, got -1"),
        (#"{"type": "conv2d", "outputs": 4, "kernel": 3, "stride": 0}"#, "field 'layers[0].stride': must be >= 1, got 0"),
        (#"{"type": "maxpool", "kernel": 2, "padding": 1}"#,
         "field 'layers[0]': unknown field 'padding' (allowed: type, kernel, stride)"),
        (#"{"type": "avgpool", "kernel": -2}"#, "field 'layers[0].kernel': must be >= 1, got -2"),
        (#"{"type": "layernorm", "epsilon": 0}"#, "field 'layers[0].epsilon': must be > 0, got 0.0"),
        (#"{"type": "linear", "outputs": 3, "over": "channel"}"#, "field 'layers[0].over': 'channel' is not one of sample, token"),
        (#"{"type": "layernorm", "over": 1}"#, "field 'layers[0].over': expected a string"),
        (#"{"type": "embedding", "width": 8}"#, "missing field 'layers[0].vocabulary'"),
        (#"{"type": "embedding", "vocabulary": 0, "width": 8}"#, "field 'layers[0].vocabulary': must be >= 1, got 0"),
        (#"{"type": "embedding", "vocabulary": 16777217, "width": 8}"#, "field 'layers[0].vocabulary': must be <= 16777216, got 16777217"),
        (#"{"type": "embedding", "vocabulary": 7, "width": 0}"#, "field 'layers[0].width': must be >= 1, got 0"),
        (#"{"type": "positions", "tokens": 5}"#, "field 'layers[0]': unknown field 'tokens' (allowed: type)"),
        (#"{"type": "block"}"#, "missing field 'layers[0].heads'"),
        (#"{"type": "block", "heads": 0}"#, "field 'layers[0].heads': must be >= 1, got 0"),
        (#"{"type": "block", "heads": 2, "mlpRatio": 0}"#, "field 'layers[0].mlpRatio': must be >= 1, got 0"),
        (#"{"type": "block", "heads": 2, "dropout": 0.1}"#, "field 'layers[0]': unknown field 'dropout' (allowed: type, heads, mlpRatio)"),
        (#"{"type": "tiedhead", "vocabulary": 7}"#, "field 'layers[0]': unknown field 'vocabulary' (allowed: type)"),
    ])
    func badConfigs(layer: String, message: String) {
        do {
            let layers = try Self.decode(#"{"layers": [\#(layer)]}"#)
            Issue.record("accepted \(layer) as \(layers)")
        } catch {
            #expect(error.description == "model.json: " + message)
        }
    }

    @Test("Sequential.build makes the model the specs describe")
    func build() throws {
        let layers = try Self.decode("""
            {"layers": [{"type": "conv2d", "outputs": 8, "kernel": 3, "padding": 1}, {"type": "relu"},
                        {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "dropout", "rate": 0.2},
                        {"type": "linear", "outputs": 10}]}
            """)
        let model = try Sequential<Float>.build(inputShape: [1, 28, 28], specs: layers, maxBatch: 8)
        #expect(model.layerOutputShapes == [[8, 28, 28], [8, 28, 28], [8, 14, 14], [1568], [1568], [10]])
        #expect(model.parameters.specs.map(\.name) == ["0_conv2d.weight", "0_conv2d.bias", "5_linear.weight", "5_linear.bias"])
        #expect(model.parameters.count == 8 * 9 + 8 + 10 * 1568 + 10)
    }
}
