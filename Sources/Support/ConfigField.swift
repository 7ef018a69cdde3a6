/// One line of a configuration type's field table (`ConfigRecord.fields`): a field's JSON name,
/// the property it sets and its rules, or a check between fields.
///
/// A field's default is the property's initial value (or what `ConfigRecord.defaults(given:)`
/// makes), so the table never repeats it.
public struct ConfigField<Root>: Sendable {
    /// The JSON name; nil for a check between fields.
    let name: String?
    /// The property; nil for a check.
    let keyPath: (PartialKeyPath<Root> & Sendable)?
    /// The field a check reports at (nil: the object); for a field, itself.
    let reportedAt: (PartialKeyPath<Root> & Sendable)?
    /// The value at `name` (a `Value`), nil when it is absent (or, for a field with a default,
    /// null); throws when the JSON lacks a required field or has a value of the wrong type.
    let decode: @Sendable (KeyedDecodingContainer<AnyCodingKey>) throws -> Any?
    /// Sets the property to a value `decode` returned.
    let assign: @Sendable (inout Root, Any) -> Void
    let encode: @Sendable (Root, inout KeyedEncodingContainer<AnyCodingKey>) throws -> Void
    /// The message of the first rule the value breaks, nil when it keeps them all.
    let problem: @Sendable (Root) -> String?
    /// Whether the JSON must give the field.
    let isRequired: Bool
    /// The type of the property (of its wrapped value for an optional field); nil for a check.
    let valueType: @Sendable () -> Any.Type?
    /// What the rules ask, as the config reference lists them (`FieldRule.summary`); for a check,
    /// its summary.
    let summaries: [String]

    /// A field with a default: absent or null, the property keeps it.
    public init<Value: Codable & Sendable>(_ name: String, _ keyPath: WritableKeyPath<Root, Value> & Sendable, _ rules: FieldRule<Value>...) {
        self.init(name, keyPath, required: false, rules)
    }

    /// An optional field: absent, the property keeps its default; null sets nil. The rules apply
    /// to a value that is not nil. Encoding leaves out nil, so a nil whose default is not nil
    /// (`rotationClip`) reads back as the default.
    public init<Wrapped: Codable & Sendable>(_ name: String, _ keyPath: WritableKeyPath<Root, Wrapped?> & Sendable, _ rules: FieldRule<Wrapped>...) {
        self.init(name, keyPath, rules: rules)
    }

    /// An optional field without rules (an initializer of its own: with no rules, the one for a
    /// field with a default would match an optional as well).
    public init<Wrapped: Codable & Sendable>(_ name: String, _ keyPath: WritableKeyPath<Root, Wrapped?> & Sendable) {
        self.init(name, keyPath, rules: [])
    }

    /// A field the JSON must give.
    public static func required<Value: Codable & Sendable>(_ name: String, _ keyPath: WritableKeyPath<Root, Value> & Sendable, _ rules: FieldRule<Value>...) -> ConfigField {
        ConfigField(name, keyPath, required: true, rules)
    }

    /// A rule between fields, checked at its place in the table and reported at the object with
    /// the message `problem` returns (nil when the rule holds); `summary` says what it asks, for
    /// the config reference.
    public static func check(summary: String? = nil, _ problem: @escaping @Sendable (Root) -> String?) -> ConfigField {
        ConfigField(check: nil, summary: summary, problem)
    }

    /// A rule between fields reported at the field `keyPath`.
    public static func check<Value>(
        at keyPath: KeyPath<Root, Value> & Sendable, summary: String? = nil, _ problem: @escaping @Sendable (Root) -> String?
    ) -> ConfigField {
        ConfigField(check: keyPath, summary: summary, problem)
    }

    private init<Value: Codable & Sendable>(_ name: String, _ keyPath: WritableKeyPath<Root, Value> & Sendable, required: Bool, _ rules: [FieldRule<Value>]) {
        let key = AnyCodingKey(stringValue: name)
        self.name = name
        self.keyPath = keyPath
        reportedAt = keyPath
        decode = { container in
            do {
                if required { return try container.decode(Value.self, forKey: key) }
                return try container.decodeIfPresent(Value.self, forKey: key)
            } catch {
                throw IntegerRange.rephrase(error, decoding: Value.self, at: key, in: container, rules: rules)
            }
        }
        assign = { root, value in root[keyPath: keyPath] = value as! Value }
        encode = { root, container in try container.encode(root[keyPath: keyPath], forKey: key) }
        problem = { root in
            let value = root[keyPath: keyPath]
            return rules.lazy.compactMap { $0.problem(value) }.first
        }
        isRequired = required
        valueType = { Value.self }
        summaries = rules.compactMap(\.summary)
    }

    private init<Wrapped: Codable & Sendable>(_ name: String, _ keyPath: WritableKeyPath<Root, Wrapped?> & Sendable, rules: [FieldRule<Wrapped>]) {
        let key = AnyCodingKey(stringValue: name)
        self.name = name
        self.keyPath = keyPath
        reportedAt = keyPath
        decode = { container in
            do {
                return container.contains(key) ? .some(try container.decodeIfPresent(Wrapped.self, forKey: key) as Any) : nil
            } catch {
                throw IntegerRange.rephrase(error, decoding: Wrapped.self, at: key, in: container, rules: rules)
            }
        }
        assign = { root, value in root[keyPath: keyPath] = value as? Wrapped }
        encode = { root, container in try container.encodeIfPresent(root[keyPath: keyPath], forKey: key) }
        problem = { root in
            guard let value = root[keyPath: keyPath] else { return nil }
            return rules.lazy.compactMap { $0.problem(value) }.first
        }
        isRequired = false
        valueType = { Wrapped.self }
        summaries = rules.compactMap(\.summary)
    }

    private init(check reportedAt: (PartialKeyPath<Root> & Sendable)?, summary: String?, _ problem: @escaping @Sendable (Root) -> String?) {
        name = nil
        keyPath = nil
        self.reportedAt = reportedAt
        decode = { _ in nil }
        assign = { _, _ in }
        encode = { _, _ in }
        self.problem = problem
        isRequired = false
        valueType = { nil }
        summaries = summary.map { [$0] } ?? []
    }
}
