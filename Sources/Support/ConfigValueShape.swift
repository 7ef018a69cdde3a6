/// What JSON a configuration value takes when its type is neither a `ConfigRecord` (an object of
/// the fields in its table) nor a `NamedChoice` (one of its spellings): the config reference
/// (`ConfigReference`) lists it from here.
package enum ConfigValueShape {
    /// A single JSON value, described in words ("true, false or \"auto\"").
    case value(String)
    /// An object with the fields of a record type the value converts to and from (`RootDamping`
    /// is `{"relative": 1e-12}` or `{"absolute": 1e-8}`).
    case record(any ConfigRecord.Type)
    /// An object with a "type" (`TaggedConfig`) and the fields of that type.
    case tagged([TaggedChoice])
}

/// One "type" of a tagged configuration object, the record type of its other fields (nil: it
/// has none) and anything else its decoding does that the reference should say.
package struct TaggedChoice {
    package var type: String
    package var fields: (any ConfigRecord.Type)?
    package var note: String?

    package init(_ type: String, fields: (any ConfigRecord.Type)? = nil, note: String? = nil) {
        self.type = type
        self.fields = fields
        self.note = note
    }
}

/// A configuration value type that says what JSON it takes: for the config reference, declared
/// beside the type's own decoding.
package protocol ConfigValueDescribing {
    static var configShape: ConfigValueShape { get }
}
