/// What a configuration field's value must satisfy, and the message when it does not: the range
/// of a field, written once in its type's field table.
///
/// The standard rules word their failures as "must be >= 1, got 0"; bounds of floating-point
/// rules print as the integers they are ("in (0, 1]").
public struct FieldRule<Value>: Sendable {
    let holds: @Sendable (Value) -> Bool
    let message: @Sendable (Value) -> String
    /// What the value must be ("in 1...1000000"), for a rule worded "must be ...": also how a
    /// JSON number the field's type cannot hold is reported.
    let requirement: String?
    /// What the rule asks, as the config reference lists it: the requirement, or for a rule with
    /// its own message the summary given with it.
    let summary: String?

    /// A rule with its own message for a value that fails it; `summary` says what it asks, for
    /// the config reference.
    public init(_ holds: @escaping @Sendable (Value) -> Bool, summary: String? = nil, otherwise message: @escaping @Sendable (Value) -> String) {
        self.init(holds, message, requirement: nil, summary: summary)
    }

    fileprivate init(
        _ holds: @escaping @Sendable (Value) -> Bool, _ message: @escaping @Sendable (Value) -> String, requirement: String?, summary: String? = nil
    ) {
        self.holds = holds
        self.message = message
        self.requirement = requirement
        self.summary = summary ?? requirement
    }

    /// A rule whose failure reads "must be REQUIREMENT, got VALUE".
    public static func mustBe(_ requirement: String, _ holds: @escaping @Sendable (Value) -> Bool) -> FieldRule {
        FieldRule(holds, { "must be \(requirement), got \($0)" }, requirement: requirement)
    }

    /// The same condition, its failure reading "must be REQUIREMENT, got VALUE".
    public func worded(_ requirement: String) -> FieldRule {
        .mustBe(requirement, holds)
    }

    /// The message for `value`, nil when the rule holds.
    func problem(_ value: Value) -> String? {
        holds(value) ? nil : message(value)
    }
}

extension FieldRule where Value: BinaryInteger & Sendable {
    /// `value >= bound`.
    public static func atLeast(_ bound: Value) -> FieldRule {
        .mustBe(">= \(bound)") { $0 >= bound }
    }

    /// `range.contains(value)`, worded by the bound it breaks ("must be >= 1, got 0", "must be
    /// <= 1000000, got 5000000"): the upper bound keeps sizes and counts from overflowing.
    public static func within(_ range: ClosedRange<Value>) -> FieldRule {
        FieldRule(range.contains, { $0 < range.lowerBound ? "must be >= \(range.lowerBound), got \($0)" : "must be <= \(range.upperBound), got \($0)" },
                  requirement: "in \(range)")
    }

    /// `range.contains(value)`, worded as the range ("in 2...4096").
    public static func `in`(_ range: ClosedRange<Value>) -> FieldRule {
        .mustBe("in \(range)") { range.contains($0) }
    }
}

extension FieldRule where Value: BinaryFloatingPoint & Sendable {
    /// A finite `value >= bound`.
    public static func atLeast(_ bound: Value) -> FieldRule {
        .mustBe(">= \(boundText(bound))") { $0 >= bound && $0.isFinite }
    }

    /// A finite `value > bound`.
    public static func above(_ bound: Value) -> FieldRule {
        .mustBe("> \(boundText(bound))") { $0 > bound && $0.isFinite }
    }

    /// Not infinite or NaN.
    public static var finite: FieldRule {
        .mustBe("finite") { $0.isFinite }
    }

    /// `value` in the closed interval, or above its lower bound ("in (0, 1]").
    public static func `in`(_ range: ClosedRange<Value>, excludingLower: Bool = false) -> FieldRule {
        let lower = range.lowerBound
        return .mustBe("in \(excludingLower ? "(" : "[")\(boundText(lower)), \(boundText(range.upperBound))]") {
            (excludingLower ? $0 > lower : $0 >= lower) && $0 <= range.upperBound
        }
    }

    /// `value` in the half-open interval, or above its lower bound ("in [0, 1)").
    public static func `in`(_ range: Range<Value>, excludingLower: Bool = false) -> FieldRule {
        let lower = range.lowerBound
        return .mustBe("in \(excludingLower ? "(" : "[")\(boundText(lower)), \(boundText(range.upperBound)))") {
            (excludingLower ? $0 > lower : $0 >= lower) && $0 < range.upperBound
        }
    }

    /// `bound` as a message shows it: an integer without ".0".
    private static func boundText(_ bound: Value) -> String {
        Int64(exactly: bound).map(String.init) ?? "\(bound)"
    }
}

extension FieldRule where Value: Collection & Sendable {
    /// At least one element (a path: at least one character).
    public static var nonEmpty: FieldRule {
        FieldRule({ !$0.isEmpty }, summary: "not empty", otherwise: { _ in "must not be empty" })
    }
}
