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

/// Throws a decoding error naming the first field (in name order) of the object being decoded
/// that is not in `allowed`, with the allowed names: a misspelt config field is an error, not
/// silently ignored.
package func rejectUnknownFields(_ decoder: any Decoder, allowing allowed: [String]) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !allowed.contains(key.stringValue) {
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath,
            debugDescription: "unknown field '\(key.stringValue)' (allowed: \(allowed.joined(separator: ", ")))"))
    }
}

/// A configuration choice spelled as a string: decoding an unknown spelling is an error that
/// lists the allowed ones.
public protocol NamedChoice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension NamedChoice {
    /// Decodes the case whose raw value is the string; another string throws an error listing the
    /// allowed ones.
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
