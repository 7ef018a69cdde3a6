import Foundation

/// The defaults of a record's fields as the config reference (`ConfigReference`) shows them,
/// worked out by calling the record's own `defaults(given:)`, so nothing about a default is
/// written twice.
///
/// A record with required fields has no defaults until they are given: they are given sample
/// values (`sampleValues(of:)`), which the reference never shows as defaults. A default that
/// `defaults(given:)` derives from another field is found by giving that field each of its
/// sample values in turn: every spelling of a choice, false and true, and two values of a
/// required number or string. A default derived from a field of another kind (an optional
/// number, say) would not be found; no table has one.
enum ReferenceDefaults {
    /// Values of `type` to give a field: each spelling of a `NamedChoice`, false and true, the
    /// defaults of a `ConfigRecord`, or what a number or a string decodes from (1 and 2, "x" and
    /// "y"); empty when there are none.
    static func sampleValues(of type: Any.Type) -> [Any] {
        if let choice = type as? any NamedChoice.Type { return spellings(choice).map(\.value) }
        if type == Bool.self { return [false, true] }
        if let record = type as? any ConfigRecord.Type { return record.referenceDefaults().map { [$0] } ?? [] }
        guard let decodable = type as? any Decodable.Type else { return [] }
        for candidates in [["1", "2"], [#""x""#, #""y""#]] {
            let values = candidates.compactMap { try? JSONDecoder().decode(decodable, from: Data($0.utf8)) }
            if !values.isEmpty { return values }
        }
        return []
    }

    /// The values of a choice with their spellings, in declaration order.
    static func spellings<Choice: NamedChoice>(_: Choice.Type) -> [(name: String, value: Any)] {
        Choice.allCases.map { ($0.rawValue, $0) }
    }

    /// `value` as compact JSON with sorted keys ("null" for nil), as a configuration would write it.
    static func json(_ value: Any) -> String {
        guard let encodable = value as? any Encodable else { return "null" }
        let encoder = NonFiniteJSON.encoder([.sortedKeys, .withoutEscapingSlashes])
        guard let data = try? encoder.encode(encodable) else { return "?" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension ConfigRecord {
    /// The defaults with sample values for the required fields; nil when some required field has
    /// no sample value or `defaults(given:)` rejects them.
    static func referenceDefaults() -> Self? {
        sampleGiven().flatMap(defaultsGiven)
    }

    /// How each field's default depends on another field, by field name: "by mode: shampoo 4,
    /// kl 2" for a choice, "the value of kernel" or "derived from kernel" otherwise. Fields
    /// whose default depends on nothing are left out.
    static func dependentDefaults() -> [String: String] {
        guard let given = sampleGiven() else { return [:] }
        var dependent: [String: String] = [:]
        for varied in fields {
            guard let name = varied.name, let keyPath = varied.keyPath, let type = varied.valueType() else { continue }
            let isChoice = type is any NamedChoice.Type || type == Bool.self
            guard varied.isRequired || isChoice else { continue }
            let values = ReferenceDefaults.sampleValues(of: type)
            guard values.count > 1 else { continue }
            let instances = values.compactMap { value -> Self? in
                var variant = given
                variant[keyPath] = value
                return defaultsGiven(variant)
            }
            guard instances.count == values.count else { continue }
            let givenTexts = values.map(ReferenceDefaults.json)
            for field in fields where !field.isRequired && field.name != name {
                guard let fieldName = field.name, let fieldKeyPath = field.keyPath, dependent[fieldName] == nil else { continue }
                let texts = instances.map { ReferenceDefaults.json($0[keyPath: fieldKeyPath]) }
                guard Set(texts).count > 1 else { continue }
                if isChoice {
                    let labels = givenTexts.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                    dependent[fieldName] = "by \(name): " + zip(labels, texts).map { "\($0) \($1)" }.joined(separator: ", ")
                } else {
                    dependent[fieldName] = texts == givenTexts ? "the value of \(name)" : "derived from \(name)"
                }
            }
        }
        return dependent
    }

    /// Sample values for the required fields, by property; nil when some field has none.
    private static func sampleGiven() -> [AnyKeyPath: Any]? {
        var given: [AnyKeyPath: Any] = [:]
        for field in fields where field.isRequired {
            guard let keyPath = field.keyPath, let type = field.valueType(),
                  let sample = ReferenceDefaults.sampleValues(of: type).first else { return nil }
            given[keyPath] = sample
        }
        return given
    }

    private static func defaultsGiven(_ given: [AnyKeyPath: Any]) -> Self? {
        try? defaults(given: GivenFields(values: given, codingPath: []))
    }
}
