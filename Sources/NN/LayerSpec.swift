import Linalg
import Support

/// One layer as a configuration file describes it: a JSON object with a "type" and that type's
/// fields, checked when decoded (unknown types and fields, and out-of-range values, are errors
/// that name the field and the allowed values).
///
///     {"type": "linear", "outputs": 256}                      (optional "over": "sample" or "token")
///     {"type": "relu"}  {"type": "gelu"}  {"type": "flatten"}
///     {"type": "dropout", "rate": 0.1}
///     {"type": "layernorm"}                                   (optional "epsilon", default 1e-5,
///                                                              and "over" as linear)
///     {"type": "conv2d", "outputs": 32, "kernel": 3, "stride": 1, "padding": 1}
///                                                             (stride default 1, padding 0)
///     {"type": "maxpool", "kernel": 2, "stride": 2}           (stride default kernel)
///     {"type": "avgpool", "kernel": 2}
///     {"type": "embedding", "vocabulary": 65, "width": 128}   (input [T] of token ids)
///     {"type": "positions"}
///     {"type": "block", "heads": 4, "mlpRatio": 4}            (mlpRatio default 4)
///     {"type": "tiedhead"}
///
/// "over": "sample" (the default) applies a linear or layernorm to the whole flattened sample;
/// "over": "token" to each vector of the last dimension ([T, C] -> [T, outputs]). A spec over
/// the sample encodes without "over", as before the field existed.
package enum LayerSpec: Codable, Equatable, Sendable {
    case linear(outputs: Int)
    case relu
    case gelu
    case flatten
    case dropout(rate: Double)
    case layerNorm(epsilon: Double)
    case conv2d(outputs: Int, kernel: Int, stride: Int, padding: Int)
    case maxPool(kernel: Int, stride: Int)
    case avgPool(kernel: Int, stride: Int)
    /// A `Linear` on each token ("over": "token").
    case tokenLinear(outputs: Int)
    /// A `LayerNorm` over each token's vector ("over": "token").
    case tokenLayerNorm(epsilon: Double)
    /// A `TokenEmbedding`.
    case embedding(vocabulary: Int, width: Int)
    /// A `PositionEmbedding`.
    case positions
    /// A `TransformerBlock`.
    case block(heads: Int, mlpRatio: Int)
    /// A `TiedHead`, sharing the weight of the first embedding.
    case tiedHead

    /// The "type" spellings.
    package enum Kind: String, NamedChoice {
        case linear, relu, gelu, flatten, dropout, layernorm, conv2d, maxpool, avgpool, embedding, positions, block, tiedhead
    }

    /// The type as configs spell it.
    package var kind: Kind {
        switch self {
        case .linear, .tokenLinear: .linear
        case .relu: .relu
        case .gelu: .gelu
        case .flatten: .flatten
        case .dropout: .dropout
        case .layerNorm, .tokenLayerNorm: .layernorm
        case .conv2d: .conv2d
        case .maxPool: .maxpool
        case .avgPool: .avgpool
        case .embedding: .embedding
        case .positions: .positions
        case .block: .block
        case .tiedHead: .tiedhead
        }
    }

    /// A new layer of this description.
    package func makeLayer<Scalar: LinalgScalar>() -> any Layer<Scalar> {
        switch self {
        case .linear(let outputs): Linear<Scalar>(outputs: outputs)
        case .relu: ReLU<Scalar>()
        case .gelu: GELU<Scalar>()
        case .flatten: Flatten<Scalar>()
        case .dropout(let rate): Dropout<Scalar>(rate: rate)
        case .layerNorm(let epsilon): LayerNorm<Scalar>(epsilon: epsilon)
        case .conv2d(let outputs, let kernel, let stride, let padding):
            Conv2d<Scalar>(outputs: outputs, kernel: kernel, stride: stride, padding: padding)
        case .maxPool(let kernel, let stride): MaxPool2d<Scalar>(kernel: kernel, stride: stride)
        case .avgPool(let kernel, let stride): AvgPool2d<Scalar>(kernel: kernel, stride: stride)
        case .tokenLinear(let outputs): Linear<Scalar>(outputs: outputs, over: .token)
        case .tokenLayerNorm(let epsilon): LayerNorm<Scalar>(epsilon: epsilon, over: .token)
        case .embedding(let vocabulary, let width): TokenEmbedding<Scalar>(vocabulary: vocabulary, width: width)
        case .positions: PositionEmbedding<Scalar>()
        case .block(let heads, let mlpRatio): TransformerBlock<Scalar>(heads: heads, mlpRatio: mlpRatio)
        case .tiedHead: TiedHead<Scalar>()
        }
    }

    package init(from decoder: any Decoder) throws {
        let kind = try TaggedConfig.type(Kind.self, in: decoder)
        func fields<Fields: LayerFields>(_: Fields.Type) throws -> Fields {
            try TaggedConfig.fields(Fields.self, in: decoder)
        }
        switch kind {
        case .linear:
            let linear = try fields(LinearFields.self)
            self = linear.over == .token ? .tokenLinear(outputs: linear.outputs) : .linear(outputs: linear.outputs)
        case .relu, .gelu, .flatten, .positions, .tiedhead:
            try TaggedConfig.rejectFields(in: decoder)
            self = switch kind {
            case .relu: .relu
            case .gelu: .gelu
            case .positions: .positions
            case .tiedhead: .tiedHead
            default: .flatten
            }
        case .dropout:
            self = .dropout(rate: try fields(DropoutFields.self).rate)
        case .layernorm:
            let norm = try fields(LayerNormFields.self)
            self = norm.over == .token ? .tokenLayerNorm(epsilon: norm.epsilon) : .layerNorm(epsilon: norm.epsilon)
        case .conv2d:
            let conv = try fields(Conv2dFields.self)
            self = .conv2d(outputs: conv.outputs, kernel: conv.kernel, stride: conv.stride, padding: conv.padding)
        case .maxpool, .avgpool:
            let pool = try fields(PoolFields.self)
            self = kind == .maxpool ? .maxPool(kernel: pool.kernel, stride: pool.stride) : .avgPool(kernel: pool.kernel, stride: pool.stride)
        case .embedding:
            let embedding = try fields(EmbeddingFields.self)
            self = .embedding(vocabulary: embedding.vocabulary, width: embedding.width)
        case .block:
            let block = try fields(BlockFields.self)
            self = .block(heads: block.heads, mlpRatio: block.mlpRatio)
        }
    }

    /// Writes the object with every field, defaults included (the resolved config).
    package func encode(to encoder: any Encoder) throws {
        let fields: (any ConfigRecord)? = switch self {
        case .linear(let outputs): LinearFields(outputs: outputs)
        case .tokenLinear(let outputs): LinearFields(outputs: outputs, over: .token)
        case .relu, .gelu, .flatten, .positions, .tiedHead: nil
        case .dropout(let rate): DropoutFields(rate: rate)
        case .layerNorm(let epsilon): LayerNormFields(epsilon: epsilon)
        case .tokenLayerNorm(let epsilon): LayerNormFields(epsilon: epsilon, over: .token)
        case .conv2d(let outputs, let kernel, let stride, let padding):
            Conv2dFields(outputs: outputs, kernel: kernel, stride: stride, padding: padding)
        case .maxPool(let kernel, let stride), .avgPool(let kernel, let stride): PoolFields(kernel: kernel, stride: stride)
        case .embedding(let vocabulary, let width): EmbeddingFields(vocabulary: vocabulary, width: width)
        case .block(let heads, let mlpRatio): BlockFields(heads: heads, mlpRatio: mlpRatio)
        }
        try TaggedConfig.encode(type: kind, fields: fields, to: encoder)
    }
}

extension LayerSpec: ConfigValueDescribing {
    /// The record of a layer type's fields beside its "type" (nil: it has none), as
    /// `init(from:)` decodes them.
    static func fieldsType(of kind: Kind) -> (any ConfigRecord.Type)? {
        switch kind {
        case .linear: LinearFields.self
        case .relu, .gelu, .flatten, .positions, .tiedhead: nil
        case .dropout: DropoutFields.self
        case .layernorm: LayerNormFields.self
        case .conv2d: Conv2dFields.self
        case .maxpool, .avgpool: PoolFields.self
        case .embedding: EmbeddingFields.self
        case .block: BlockFields.self
        }
    }

    package static var configShape: ConfigValueShape {
        .tagged(Kind.allCases.map { TaggedChoice($0.rawValue, fields: fieldsType(of: $0)) })
    }
}

/// The fields of a layer type beside its "type", with their defaults and ranges; a problem is
/// reported at the field ("field 'model.layers[1].outputs': must be in 1...1073741824, got 0").
private protocol LayerFields: ConfigRecord {}

extension LayerSpec {
    /// The most outputs (features or channels) a layer may have: far more than fits in memory,
    /// and small enough that no product of sizes in shape inference comes near `Int.max` unseen.
    package static let maximumOutputs = 1 << 30
    /// The largest kernel, stride or padding of a convolution or pooling layer.
    package static let maximumWindow = 1 << 16
    /// The most token ids an embedding may have: ids travel as Scalar values, and Float holds
    /// every integer up to 2^24 exactly.
    package static let maximumVocabulary = 1 << 24
    /// The largest MLP hidden width of a transformer block, as a multiple of its width.
    package static let maximumMLPRatio = 1024
}

extension FieldRule<Int> {
    /// Output features or channels.
    fileprivate static var outputs: FieldRule { .within(1...LayerSpec.maximumOutputs) }
    /// A kernel size or stride.
    fileprivate static var window: FieldRule { .within(1...LayerSpec.maximumWindow) }
    /// Zero padding.
    fileprivate static var padding: FieldRule { .within(0...LayerSpec.maximumWindow) }
}

private struct LinearFields: LayerFields {
    var outputs: Int
    /// nil: over the sample, and left out when encoding, so existing configs read back unchanged.
    var over: LayerScope?

    static let fields: [ConfigField<LinearFields>] = [.required("outputs", \.outputs, .outputs), .init("over", \.over)]

    static func defaults(given: GivenFields<LinearFields>) throws -> LinearFields {
        LinearFields(outputs: try given.required(\.outputs))
    }
}

private struct DropoutFields: LayerFields {
    var rate: Double

    static let fields: [ConfigField<DropoutFields>] = [.required("rate", \.rate, .in(0..<1))]

    static func defaults(given: GivenFields<DropoutFields>) throws -> DropoutFields {
        DropoutFields(rate: try given.required(\.rate))
    }
}

private struct LayerNormFields: LayerFields {
    var epsilon = 1e-5
    /// nil: over the sample, as `LinearFields.over`.
    var over: LayerScope?

    static let fields: [ConfigField<LayerNormFields>] = [.init("epsilon", \.epsilon, .above(0)), .init("over", \.over)]

    static func defaults(given _: GivenFields<LayerNormFields>) -> LayerNormFields { LayerNormFields() }
}

private struct Conv2dFields: LayerFields {
    var outputs: Int
    var kernel: Int
    var stride = 1
    var padding = 0

    static let fields: [ConfigField<Conv2dFields>] = [
        .required("outputs", \.outputs, .outputs),
        .required("kernel", \.kernel, .window),
        .init("stride", \.stride, .window),
        .init("padding", \.padding, .padding),
    ]

    static func defaults(given: GivenFields<Conv2dFields>) throws -> Conv2dFields {
        Conv2dFields(outputs: try given.required(\.outputs), kernel: try given.required(\.kernel))
    }
}

private struct PoolFields: LayerFields {
    var kernel: Int
    /// Default: `kernel`.
    var stride: Int

    static let fields: [ConfigField<PoolFields>] = [
        .required("kernel", \.kernel, .window),
        .init("stride", \.stride, .window),
    ]

    static func defaults(given: GivenFields<PoolFields>) throws -> PoolFields {
        let kernel = try given.required(\.kernel)
        return PoolFields(kernel: kernel, stride: kernel)
    }
}

private struct EmbeddingFields: LayerFields {
    var vocabulary: Int
    var width: Int

    static let fields: [ConfigField<EmbeddingFields>] = [
        .required("vocabulary", \.vocabulary, .within(1...LayerSpec.maximumVocabulary)),
        .required("width", \.width, .outputs),
    ]

    static func defaults(given: GivenFields<EmbeddingFields>) throws -> EmbeddingFields {
        EmbeddingFields(vocabulary: try given.required(\.vocabulary), width: try given.required(\.width))
    }
}

private struct BlockFields: LayerFields {
    var heads: Int
    var mlpRatio = 4

    static let fields: [ConfigField<BlockFields>] = [
        .required("heads", \.heads, .outputs),
        .init("mlpRatio", \.mlpRatio, .within(1...LayerSpec.maximumMLPRatio)),
    ]

    static func defaults(given: GivenFields<BlockFields>) throws -> BlockFields {
        BlockFields(heads: try given.required(\.heads))
    }
}

extension LayerSpec {
    /// The layers of a GPT-style language model on sequences of token ids [T]: a token
    /// embedding of `width`, learned positions, `blocks` transformer blocks of `heads` heads, a
    /// final token-wise layernorm and a head giving `vocabulary` logits per token, either the
    /// embedding's own weight (`tiedHead`) or a token-wise linear.
    package static func transformer(
        vocabulary: Int, blocks: Int, width: Int, heads: Int, mlpRatio: Int = 4, tiedHead: Bool
    ) -> [LayerSpec] {
        precondition(blocks >= 0, "LayerSpec.transformer: \(blocks) blocks")
        return [.embedding(vocabulary: vocabulary, width: width), .positions]
            + Array(repeating: .block(heads: heads, mlpRatio: mlpRatio), count: blocks)
            + [.tokenLayerNorm(epsilon: 1e-5), tiedHead ? .tiedHead : .tokenLinear(outputs: vocabulary)]
    }
}
