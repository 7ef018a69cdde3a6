/// A coding key for any field name, to list the fields a JSON object actually has.
public struct AnyCodingKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int?

    public init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    public init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

/// Throws a decoding error naming the first field of the object being decoded that `Keys` does
/// not know, with the allowed names: a misspelt config field is an error, not silently ignored.
public func rejectUnknownFields<Keys: CodingKey & CaseIterable>(_ decoder: any Decoder, _: Keys.Type) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue })
    where Keys(stringValue: key.stringValue) == nil {
        let allowed = Keys.allCases.map(\.stringValue).joined(separator: ", ")
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath,
            debugDescription: "unknown field '\(key.stringValue)' (allowed: \(allowed))"))
    }
}

/// A configuration choice spelled as a string: decoding an unknown spelling is an error that
/// lists the allowed ones.
public protocol NamedChoice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension NamedChoice {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            let allowed = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "'\(text)' is not one of \(allowed)"))
        }
        self = value
    }
}

/// Throws a decoding error at `key` of the object being decoded unless `condition` holds: the
/// range checks of configuration fields.
public func requireField<Key: CodingKey>(_ condition: Bool, _ decoder: any Decoder, _ key: Key, _ message: @autoclosure () -> String) throws {
    if !condition {
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [key], debugDescription: message()))
    }
}
