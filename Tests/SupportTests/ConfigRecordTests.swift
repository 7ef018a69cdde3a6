import Foundation
@testable import Support
import Testing

/// A record with a field of every kind: required, with a default, optional without and with a
/// default, and a check between fields.
private struct Example: ConfigRecord, Equatable {
    var name: String
    var count = 3
    var rate: Double?
    var limit: Double? = 1
    var note: String?

    static let fields: [ConfigField<Example>] = [
        .required("name", \.name, .nonEmpty),
        .init("count", \.count, .atLeast(1)),
        .init("rate", \.rate, .in(0..<1)),
        .init("limit", \.limit, .above(0)),
        .init("note", \.note),
        .check { $0.count > 5 && $0.rate != nil ? "rate applies to counts up to 5" : nil },
    ]

    static func defaults(given: GivenFields<Example>) throws -> Example {
        Example(name: try given.required(\.name))
    }
}

/// The same fields, problems reported at the object.
private struct ObjectPlaced: ConfigRecord, Equatable {
    var count = 3
    var nested = NestedExample()

    static let fields: [ConfigField<ObjectPlaced>] = [
        .init("count", \.count, .atLeast(1)),
        .init("nested", \.nested),
    ]
    static let problemPlacement = ConfigProblemPlacement.object

    static func defaults(given _: GivenFields<ObjectPlaced>) -> ObjectPlaced { ObjectPlaced() }
}

/// A record whose default depends on another field, as an optimizer's learning rate on its type.
private struct NestedExample: ConfigRecord, Equatable {
    var fast = false
    var step: Double

    init(fast: Bool = false) {
        self.fast = fast
        step = fast ? 1 : 0.1
    }

    static let fields: [ConfigField<NestedExample>] = [
        .init("fast", \.fast),
        .init("step", \.step, .in(0...4096, excludingLower: true)),
    ]
    static let problemPlacement = ConfigProblemPlacement.object

    static func defaults(given: GivenFields<NestedExample>) -> NestedExample {
        NestedExample(fast: given[\.fast] ?? false)
    }
}

@Suite("Configuration records")
struct ConfigRecordTests {
    func decode<Record: ConfigRecord>(_: Record.Type, _ json: String) throws(ConfigurationError) -> Record {
        try ConfigurationFile.decode(Record.self, from: Data(json.utf8), path: "c.json")
    }

    func failure<Record: ConfigRecord>(_: Record.Type, _ json: String) -> String? {
        do {
            _ = try decode(Record.self, json)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("absent fields keep their defaults; null keeps a default but clears an optional; a required field must be given")
    func defaultsAndNull() throws {
        #expect(try decode(Example.self, #"{"name": "a"}"#) == Example(name: "a"))
        let nulls = try decode(Example.self, #"{"name": "a", "count": null, "rate": null, "limit": null, "note": null}"#)
        #expect(nulls.count == 3 && nulls.rate == nil && nulls.limit == nil && nulls.note == nil)
        let given = try decode(Example.self, #"{"name": "a", "count": 5, "rate": 0.5, "limit": 2}"#)
        #expect(given.count == 5 && given.rate == 0.5 && given.limit == 2)
        #expect(failure(Example.self, #"{"count": 2}"#) == "missing field 'name'")
        #expect(failure(Example.self, #"{"name": null}"#) == "field 'name': expected a string, found null")
        #expect(failure(Example.self, #"{"name": "a", "count": "many"}"#) == "field 'count': expected an integer")
    }

    @Test("an unknown field is an error listing the allowed fields in table order")
    func unknownField() {
        #expect(failure(Example.self, #"{"name": "a", "cuont": 2}"#) == "unknown field 'cuont' (allowed: name, count, rate, limit, note)")
        // A name holding a newline or a tab (a damaged file) stays on one line, escaped.
        #expect(failure(Example.self, "{\"name\": \"a\", \"co\\nu\\tnt\": 2}") == #"unknown field 'co\nu\tnt' (allowed: name, count, rate, limit, note)"#)
        #expect(failure(Example.self, "{\"name\": \"a\", \"co\\nu\\tnt\": 2}")?.contains("\n") == false)
    }

    @Test("a value out of range is reported at the field, or at the object naming the field")
    func placement() {
        #expect(failure(Example.self, #"{"name": "a", "count": 0}"#) == "field 'count': must be >= 1, got 0")
        #expect(failure(Example.self, #"{"name": ""}"#) == "field 'name': must not be empty")
        #expect(failure(Example.self, #"{"name": "a", "rate": 1}"#) == "field 'rate': must be in [0, 1), got 1.0")
        #expect(failure(Example.self, #"{"name": "a", "limit": 0}"#) == "field 'limit': must be > 0, got 0.0")
        #expect(failure(Example.self, #"{"name": "a", "count": 6, "rate": 0.5}"#) == "rate applies to counts up to 5")
        #expect(failure(ObjectPlaced.self, #"{"count": 0}"#) == "count must be >= 1, got 0")
        #expect(failure(ObjectPlaced.self, #"{"nested": {"step": 5000}}"#) == "field 'nested': step must be in (0, 4096], got 5000.0")
    }

    @Test("a default that depends on another field follows the field as given")
    func dependentDefault() throws {
        #expect(try decode(NestedExample.self, "{}").step == 0.1)
        #expect(try decode(NestedExample.self, #"{"fast": true}"#).step == 1)
        #expect(try decode(NestedExample.self, #"{"fast": true, "step": 2}"#).step == 2)
    }

    @Test("encoding writes every field but a nil optional, and decodes back to the same value")
    func roundTrip() throws {
        for value in [Example(name: "a"), Example(name: "b", count: 4, rate: 0.25, limit: 2, note: "n")] {
            let data = try JSONEncoder().encode(value)
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(Set(object.keys) == Set(["name", "count", "limit"] + (value.rate == nil ? [] : ["rate", "note"])))
            #expect(try JSONDecoder().decode(Example.self, from: data) == value)
        }
    }

    @Test("validationError checks a value built in code, nested records with their path")
    func validationError() {
        var value = ObjectPlaced()
        #expect(value.validationError() == nil)
        value.nested.step = 0
        #expect(value.validationError() == "nested.step must be in (0, 4096], got 0.0")
        value.count = 0
        #expect(value.validationError() == "count must be >= 1, got 0")
        #expect(Example(name: "a", count: 6, rate: 0.1).validationError() == "rate applies to counts up to 5")
    }

    @Test("standard rules: integer bounds as written, interval notation for reals, non-finite values refused")
    func rules() {
        func message<Value>(_ rule: FieldRule<Value>, _ value: Value) -> String? { rule.problem(value) }
        #expect(message(.atLeast(4), 3) == "must be >= 4, got 3")
        #expect(message(.in(4...100_000), 100_001) == "must be in 4...100000, got 100001")
        #expect(message(.atLeast(0.0), -1) == "must be >= 0, got -1.0")
        #expect(message(.atLeast(0.0), .infinity) == "must be >= 0, got inf")
        #expect(message(.above(0.0), .nan) == "must be > 0, got nan")
        #expect(message(.in(0.0...1, excludingLower: true), 0) == "must be in (0, 1], got 0.0")
        #expect(message(.in(0.0...1), 1) == nil)
        #expect(message(.in(0.0..<1, excludingLower: true), 0.5) == nil)
        #expect(message(.in(0.0..<1, excludingLower: true), 1) == "must be in (0, 1), got 1.0")
        #expect(message(.in(0.5..<1), 0.25) == "must be in [0.5, 1), got 0.25")
        #expect(message(.finite, -Double.infinity) == "must be finite, got -inf")
        #expect(message(.above(0.0).worded("a positive number"), -2) == "must be a positive number, got -2.0")
    }
}
