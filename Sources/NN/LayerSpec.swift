import Linalg
import Support

/// One layer as a configuration file describes it: a JSON object with a "type" and that type's
/// fields, checked when decoded (unknown types and fields, and out-of-range values, are errors
/// that name the field and the allowed values).
///
///     {"type": "linear", "outputs": 256}
///     {"type": "relu"}  {"type": "gelu"}  {"type": "flatten"}
///     {"type": "dropout", "rate": 0.1}
///     {"type": "layernorm"}                                   (optional "epsilon", default 1e-5)
///     {"type": "conv2d", "outputs": 32, "kernel": 3, "stride": 1, "padding": 1}
///                                                             (stride default 1, padding 0)
///     {"type": "maxpool", "kernel": 2, "stride": 2}           (stride default kernel)
///     {"type": "avgpool", "kernel": 2}
public enum LayerSpec: Codable, Equatable, Sendable {
    case linear(outputs: Int)
    case relu
    case gelu
    case flatten
    case dropout(rate: Double)
    case layerNorm(epsilon: Double)
    case conv2d(outputs: Int, kernel: Int, stride: Int, padding: Int)
    case maxPool(kernel: Int, stride: Int)
    case avgPool(kernel: Int, stride: Int)

    /// The "type" spellings.
    public enum Kind: String, NamedChoice {
        case linear, relu, gelu, flatten, dropout, layernorm, conv2d, maxpool, avgpool
    }

    /// The type as configs spell it.
    public var kind: Kind {
        switch self {
        case .linear: .linear
        case .relu: .relu
        case .gelu: .gelu
        case .flatten: .flatten
        case .dropout: .dropout
        case .layerNorm: .layernorm
        case .conv2d: .conv2d
        case .maxPool: .maxpool
        case .avgPool: .avgpool
        }
    }

    /// A new layer of this description.
    public func makeLayer<Scalar: LinalgScalar>() -> any Layer<Scalar> {
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
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, outputs, rate, epsilon, kernel, stride, padding
    }

    // The fields each type accepts, for `rejectUnknownFields`.
    private enum LinearFields: String, CodingKey, CaseIterable { case type, outputs }
    private enum ParameterFreeFields: String, CodingKey, CaseIterable { case type }
    private enum DropoutFields: String, CodingKey, CaseIterable { case type, rate }
    private enum LayerNormFields: String, CodingKey, CaseIterable { case type, epsilon }
    private enum Conv2dFields: String, CodingKey, CaseIterable { case type, outputs, kernel, stride, padding }
    private enum PoolFields: String, CodingKey, CaseIterable { case type, kernel, stride }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(Kind.self, forKey: .type)
        switch kind {
        case .linear: try rejectUnknownFields(decoder, LinearFields.self)
        case .relu, .gelu, .flatten: try rejectUnknownFields(decoder, ParameterFreeFields.self)
        case .dropout: try rejectUnknownFields(decoder, DropoutFields.self)
        case .layernorm: try rejectUnknownFields(decoder, LayerNormFields.self)
        case .conv2d: try rejectUnknownFields(decoder, Conv2dFields.self)
        case .maxpool, .avgpool: try rejectUnknownFields(decoder, PoolFields.self)
        }
        func invalid(_ message: String) -> DecodingError {
            DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: message))
        }
        func integer(_ key: CodingKeys, atLeast minimum: Int, default defaultValue: Int? = nil) throws -> Int {
            let value: Int
            if let defaultValue {
                value = try container.decodeIfPresent(Int.self, forKey: key) ?? defaultValue
            } else {
                value = try container.decode(Int.self, forKey: key)
            }
            guard value >= minimum else { throw invalid("\(key.rawValue) must be at least \(minimum), got \(value)") }
            return value
        }
        switch kind {
        case .linear:
            self = .linear(outputs: try integer(.outputs, atLeast: 1))
        case .relu:
            self = .relu
        case .gelu:
            self = .gelu
        case .flatten:
            self = .flatten
        case .dropout:
            let rate = try container.decode(Double.self, forKey: .rate)
            guard rate >= 0 && rate < 1 else { throw invalid("rate must be in [0, 1), got \(rate)") }
            self = .dropout(rate: rate)
        case .layernorm:
            let epsilon = try container.decodeIfPresent(Double.self, forKey: .epsilon) ?? 1e-5
            guard epsilon > 0 && epsilon.isFinite else { throw invalid("epsilon must be > 0, got \(epsilon)") }
            self = .layerNorm(epsilon: epsilon)
        case .conv2d:
            self = .conv2d(
                outputs: try integer(.outputs, atLeast: 1), kernel: try integer(.kernel, atLeast: 1),
                stride: try integer(.stride, atLeast: 1, default: 1), padding: try integer(.padding, atLeast: 0, default: 0))
        case .maxpool, .avgpool:
            let kernel = try integer(.kernel, atLeast: 1)
            let stride = try integer(.stride, atLeast: 1, default: kernel)
            self = kind == .maxpool ? .maxPool(kernel: kernel, stride: stride) : .avgPool(kernel: kernel, stride: stride)
        }
    }

    /// Writes the object with every field, defaults included (the resolved config).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .type)
        switch self {
        case .linear(let outputs):
            try container.encode(outputs, forKey: .outputs)
        case .relu, .gelu, .flatten:
            break
        case .dropout(let rate):
            try container.encode(rate, forKey: .rate)
        case .layerNorm(let epsilon):
            try container.encode(epsilon, forKey: .epsilon)
        case .conv2d(let outputs, let kernel, let stride, let padding):
            try container.encode(outputs, forKey: .outputs)
            try container.encode(kernel, forKey: .kernel)
            try container.encode(stride, forKey: .stride)
            try container.encode(padding, forKey: .padding)
        case .maxPool(let kernel, let stride), .avgPool(let kernel, let stride):
            try container.encode(kernel, forKey: .kernel)
            try container.encode(stride, forKey: .stride)
        }
    }
}
