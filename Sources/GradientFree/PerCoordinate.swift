import Support

/// A setting with one value per coordinate, written in a configuration as one number for every
/// coordinate (`3`) or as an array of one number per coordinate (`[1, 2, 3]`), so the common case
/// stays short and any point can still be given.
///
/// It encodes back to what was given: a number stays a number, an array an array. Whether an
/// array has the right length depends on the dimension, which only the enclosing configuration
/// knows: it checks `countProblem(dimension:)`.
public enum PerCoordinate: Codable, Equatable, Sendable, CustomStringConvertible, ConfigValueDescribing {
    /// The same value `v` in every coordinate: `x_i = v`.
    case uniform(Double)
    /// One value per coordinate: `x_i = values[i]`.
    case values([Double])

    /// The value of each of `dimension` coordinates: `[v, ..., v]` for `.uniform(v)`, the array
    /// itself for `.values` (whose length must be `dimension`: see `countProblem(dimension:)`).
    public func values(dimension: Int) -> [Double] {
        switch self {
        case .uniform(let value):
            return [Double](repeating: value, count: dimension)
        case .values(let values):
            precondition(values.count == dimension, "PerCoordinate: \(values.count) values for dimension \(dimension)")
            return values
        }
    }

    /// Why the setting cannot serve `dimension` coordinates, for a configuration error that names
    /// both lengths ("must be one number or 10 numbers (the dimension), got 3"); nil when it can.
    public func countProblem(dimension: Int) -> String? {
        guard case .values(let values) = self, values.count != dimension else { return nil }
        return "must be one number or \(dimension) numbers (the dimension), got \(values.count)"
    }

    /// The first value that fails `condition`, with its place (nil for `.uniform`); nil when all
    /// satisfy it.
    public func firstValue(failing condition: (Double) -> Bool) -> (value: Double, index: Int?)? {
        switch self {
        case .uniform(let value):
            return condition(value) ? nil : (value, nil)
        case .values(let values):
            return values.firstIndex { !condition($0) }.map { (values[$0], $0) }
        }
    }

    package static var configShape: ConfigValueShape { .value("number, or list of one number per coordinate") }

    /// The setting as the configuration writes it: `3.0` or `[1.0, 2.0]`.
    public var description: String {
        switch self {
        case .uniform(let value): "\(value)"
        case .values(let values): "\(values)"
        }
    }

    /// Decodes a number or an array of numbers; an element that is not a number is reported at
    /// its index (`start[2]`), anything else as not being either.
    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var values: [Double] = []
            values.reserveCapacity(array.count ?? 0)
            while !array.isAtEnd { values.append(try array.decode(Double.self)) }
            self = .values(values)
            return
        }
        let container = try decoder.singleValueContainer()
        guard let value = try? container.decode(Double.self) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be a number or an array of numbers"))
        }
        self = .uniform(value)
    }

    /// Encodes a number for `.uniform`, an array for `.values`.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .uniform(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .values(let values):
            var container = encoder.unkeyedContainer()
            try container.encode(contentsOf: values)
        }
    }
}

extension FieldRule where Value == PerCoordinate {
    /// Every value satisfies `holds`; a failure reads "must be REQUIREMENT, got VALUE" (with
    /// "at [INDEX]" for an array), as the rules for a single number word theirs.
    public static func everyValue(mustBe requirement: String, _ holds: @escaping @Sendable (Double) -> Bool) -> FieldRule {
        FieldRule({ $0.firstValue(failing: holds) == nil }, summary: "every value \(requirement)", otherwise: { setting in
            guard let (value, index) = setting.firstValue(failing: holds) else { return "must be \(requirement)" }
            return "must be \(requirement), got \(value)" + (index.map { " at [\($0)]" } ?? "")
        })
    }

    /// No value infinite or NaN.
    public static var finite: FieldRule {
        .everyValue(mustBe: "finite") { $0.isFinite }
    }
}
