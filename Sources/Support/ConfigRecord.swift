/// A configuration object whose every field is declared once: the property, with its default as
/// its initial value, and one line of `fields` with its JSON name and range.
///
/// Decoding starts from `defaults(given:)`, rejects a field the table does not name (listing the
/// allowed ones), sets each field present, then checks the table's rules in order. Encoding
/// writes every field, an optional one only when it is not nil.
///
///     public struct LoopConfig: ConfigRecord {
///         public var batchSize = 128
///         public var maxSteps: Int?
///         public static let fields: [ConfigField<LoopConfig>] = [
///             .init("batchSize", \.batchSize, .atLeast(1)),
///             .init("maxSteps", \.maxSteps, .atLeast(1)),
///         ]
///         public static func defaults(given _: GivenFields<LoopConfig>) -> LoopConfig { LoopConfig() }
///     }
public protocol ConfigRecord: Codable {
    /// The fields, in the order they are listed as allowed, decoded, checked and encoded, with
    /// each check between fields where it is made.
    static var fields: [ConfigField<Self>] { get }

    /// Where a value out of range is reported: `.field` unless the type says otherwise.
    static var problemPlacement: ConfigProblemPlacement { get }

    /// The value before the fields present are set: the defaults, made from the required fields
    /// and, where a default depends on another field (an optimizer's learning rate on its type),
    /// from that field as given.
    static func defaults(given: GivenFields<Self>) throws -> Self
}

/// Where a configuration type reports a value out of range.
public enum ConfigProblemPlacement: Sendable {
    /// At the field, the message saying what it must be: "field 'training.batchSize': must be
    /// >= 1, got 0".
    case field
    /// At the object, the message naming the field: "field 'optimizer': momentum must be in
    /// [0, 1), got 1.5", as `validationError()` words it for a value built in code.
    case object
}

extension ConfigRecord {
    public static var problemPlacement: ConfigProblemPlacement { .field }

    /// The JSON names of the fields, in table order.
    public static var fieldNames: [String] { fields.compactMap(\.name) }

    public init(from decoder: any Decoder) throws {
        self = try Self.decodeFields(from: decoder)
    }

    /// Decodes the fields of the object `decoder` holds, which may also have the fields
    /// `otherNames` (the "type" of a tagged choice whose fields this type holds).
    static func decodeFields(from decoder: any Decoder, alsoAllowing otherNames: [String] = []) throws -> Self {
        try rejectUnknownFields(decoder, allowing: otherNames + fieldNames)
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        var present: [(field: ConfigField<Self>, value: Any)] = []
        var given: [AnyKeyPath: Any] = [:]
        for field in fields {
            guard let keyPath = field.keyPath, let value = try field.decode(container) else { continue }
            present.append((field, value))
            given[keyPath] = value
        }
        var result = try defaults(given: GivenFields(values: given, codingPath: decoder.codingPath))
        for (field, value) in present {
            field.assign(&result, value)
        }
        if let (name, message) = result.firstBrokenRule() {
            switch (problemPlacement, name) {
            case (.field, let name?):
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [AnyCodingKey(stringValue: name)], debugDescription: message))
            case (.object, let name?):
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(name) \(message)"))
            case (_, nil):
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: message))
            }
        }
        return result
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        for field in Self.fields {
            try field.encode(self, &container)
        }
    }

    /// The first problem with the value, naming the field ("momentum must be in [0, 1), got 1.5",
    /// "preconditioner.power must be ..." for a nested configuration); nil when it is usable.
    /// Checks a value built in code as decoding does.
    public func validationError() -> String? {
        if let (name, message) = firstBrokenRule() {
            return name.map { "\($0) \(message)" } ?? message
        }
        for field in Self.fields {
            guard let keyPath = field.keyPath, let name = field.name,
                  let nested = self[keyPath: keyPath] as? any ConfigRecord, let problem = nested.validationError() else { continue }
            return "\(name).\(problem)"
        }
        return nil
    }

    /// The first rule of the table the value breaks: the field it reports at (nil: the object)
    /// and the message.
    private func firstBrokenRule() -> (field: String?, message: String)? {
        for entry in Self.fields {
            guard let message = entry.problem(self) else { continue }
            return (entry.reportedAt.flatMap(Self.fieldName), message)
        }
        return nil
    }

    /// The JSON name of the field that sets `keyPath`.
    static func fieldName(_ keyPath: AnyKeyPath) -> String? {
        fields.first { $0.keyPath.map { $0 as AnyKeyPath } == keyPath }?.name
    }
}

/// The fields a configuration gives, by property: what `ConfigRecord.defaults(given:)` makes the
/// defaults from.
public struct GivenFields<Root: ConfigRecord> {
    let values: [AnyKeyPath: Any]
    let codingPath: [any CodingKey]

    /// The value given for the property, nil when the JSON leaves its field out.
    public subscript<Value>(_ keyPath: KeyPath<Root, Value>) -> Value? {
        values[keyPath] as? Value
    }

    /// The value of a field the table marks required (decoding has already thrown if it is
    /// missing).
    public func required<Value>(_ keyPath: KeyPath<Root, Value>) throws -> Value {
        if let value = self[keyPath] { return value }
        throw DecodingError.keyNotFound(
            AnyCodingKey(stringValue: Root.fieldName(keyPath) ?? "\(keyPath)"),
            .init(codingPath: codingPath, debugDescription: "no value"))
    }
}
