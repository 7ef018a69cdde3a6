import Foundation
@testable import Support
import Testing

/// A choice of two spellings.
private enum Speed: String, NamedChoice {
    case slow, fast
}

/// A record whose `step` default depends on `speed` and `limit` on the required `size`, with a
/// nested record whose default differs from the nested type's own, and checks with and without
/// summaries.
private struct Outer: ConfigRecord {
    var size: Int
    var speed = Speed.slow
    var step: Double
    var limit: Int
    var label: String?
    var inner = Inner(scale: 5)
    var flags: [Speed] = [.slow]

    static let fields: [ConfigField<Outer>] = [
        .required("size", \.size, .atLeast(1)),
        .init("speed", \.speed),
        .init("step", \.step, .above(0)),
        .init("limit", \.limit),
        .check(at: \.limit, summary: "at most size") { $0.limit <= $0.size ? nil : "exceeds size" },
        .init("label", \.label, .nonEmpty),
        .init("inner", \.inner),
        .init("flags", \.flags),
        .check { _ in nil },
    ]

    static func defaults(given: GivenFields<Outer>) throws -> Outer {
        let size = try given.required(\.size)
        return Outer(size: size, step: given[\.speed] == .fast ? 1 : 0.5, limit: size * 2)
    }
}

private struct Inner: ConfigRecord {
    var scale = 1.0
    var enabled = true

    static let fields: [ConfigField<Inner>] = [
        .init("scale", \.scale, .in(0...10)),
        .init("enabled", \.enabled),
        .check(summary: "scale 0 needs enabled false") { $0.scale == 0 && $0.enabled ? "scale 0 with enabled" : nil },
    ]

    static func defaults(given _: GivenFields<Inner>) -> Inner { Inner() }
}

@Suite("Config reference generation")
struct ConfigReferenceGenerationTests {
    @Test("every field is listed with its default, its type, its rules and the checks at it, derived defaults by what they depend on")
    func listing() {
        let lines = ConfigReference.lines(Outer.self).map { $0.replacingOccurrences(of: " +", with: " ", options: .regularExpression) }
        #expect(lines == [
            "field default; type; rules",
            "size required; integer; >= 1",
            "speed default \"slow\"; one of slow, fast",
            "step default by speed: slow 0.5, fast 1; number; > 0",
            "limit default derived from size; integer; at most size",
            "label default null; string; not empty",
            "inner.scale default 5; number; in [0, 10]",
            "inner.enabled default true; true or false",
            "inner check: scale 0 needs enabled false",
            "flags default [\"slow\"]; list, each one of slow, fast",
            "(top level) check: checked with other fields",
        ])
    }

    @Test("sample values give a required field something of its type, and every spelling of a choice")
    func sampleValues() {
        #expect(ReferenceDefaults.sampleValues(of: Int.self).compactMap { $0 as? Int } == [1, 2])
        #expect(ReferenceDefaults.sampleValues(of: String.self).compactMap { $0 as? String } == ["x", "y"])
        #expect(ReferenceDefaults.sampleValues(of: Speed.self).compactMap { $0 as? Speed } == [.slow, .fast])
        #expect(ReferenceDefaults.sampleValues(of: Bool.self).compactMap { $0 as? Bool } == [false, true])
        #expect(Outer.referenceDefaults()?.size == 1)
    }
}
