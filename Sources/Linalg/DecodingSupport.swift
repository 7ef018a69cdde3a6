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
            codingPath: decoder.codingPath + [key],
            debugDescription: "unknown field '\(key.stringValue)' (allowed: \(allowed))"))
    }
}
