/// A configuration value written as an object with a "type" and that type's fields, such as
/// `{"type": "conv2d", "outputs": 32, "kernel": 3}`: a tagged enumeration decodes the type, then
/// the fields of its case as a `ConfigRecord` with their defaults and ranges.
public enum TaggedConfig {
    private static let typeKey = AnyCodingKey(stringValue: "type")

    /// The "type" of the object `decoder` holds.
    public static func type<Kind: NamedChoice>(_: Kind.Type, in decoder: any Decoder) throws -> Kind {
        try decoder.container(keyedBy: AnyCodingKey.self).decode(Kind.self, forKey: typeKey)
    }

    /// The fields of the object `decoder` holds, beside its "type".
    public static func fields<Fields: ConfigRecord>(_: Fields.Type, in decoder: any Decoder) throws -> Fields {
        try Fields.decodeFields(from: decoder, alsoAllowing: [typeKey.stringValue])
    }

    /// Throws unless the object `decoder` holds has only a "type" and fields of `Fields` (for a
    /// type whose fields are allowed but unused).
    public static func rejectFields<Fields: ConfigRecord>(besides _: Fields.Type, in decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, allowing: [typeKey.stringValue] + Fields.fieldNames)
    }

    /// Throws unless the object `decoder` holds has only a "type" (a type without fields).
    public static func rejectFields(in decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, allowing: [typeKey.stringValue])
    }

    /// Writes the "type" and the fields of that type.
    public static func encode<Kind: NamedChoice>(type: Kind, fields: (any ConfigRecord)? = nil, to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encode(type, forKey: typeKey)
        try fields?.encode(to: encoder)
    }
}
