/// The element types collectives carry, named independently of any MPI binding.
package enum ElementType: Int64, Sendable, CustomStringConvertible {
    case float32 = 1
    case float64 = 2
    case int32 = 3
    case int64 = 4
    case uint8 = 5

    package var description: String {
        switch self {
        case .float32: return "Float32"
        case .float64: return "Float64"
        case .int32: return "Int32"
        case .int64: return "Int64"
        case .uint8: return "UInt8"
        }
    }
}

/// A fixed-size scalar that a `Communicator` can reduce, gather and broadcast.
package protocol CollectiveElement: BitwiseCopyable, Comparable, Numeric, Sendable {
    static var elementType: ElementType { get }
    /// `lhs + rhs` (wrapping for integers, as MPI_SUM does).
    static func collectiveSum(_ lhs: Self, _ rhs: Self) -> Self
}

extension Float: CollectiveElement {
    package static var elementType: ElementType { .float32 }
    package static func collectiveSum(_ lhs: Float, _ rhs: Float) -> Float { lhs + rhs }
}

extension Double: CollectiveElement {
    package static var elementType: ElementType { .float64 }
    package static func collectiveSum(_ lhs: Double, _ rhs: Double) -> Double { lhs + rhs }
}

extension Int32: CollectiveElement {
    package static var elementType: ElementType { .int32 }
    package static func collectiveSum(_ lhs: Int32, _ rhs: Int32) -> Int32 { lhs &+ rhs }
}

extension Int64: CollectiveElement {
    package static var elementType: ElementType { .int64 }
    package static func collectiveSum(_ lhs: Int64, _ rhs: Int64) -> Int64 { lhs &+ rhs }
}

extension UInt8: CollectiveElement {
    package static var elementType: ElementType { .uint8 }
    package static func collectiveSum(_ lhs: UInt8, _ rhs: UInt8) -> UInt8 { lhs &+ rhs }
}

/// The reduction a collective applies elementwise across ranks.
package enum ReductionOperation: Int64, Sendable, CustomStringConvertible {
    case sum = 1
    case max = 2
    case min = 3

    package var description: String {
        switch self {
        case .sum: return "sum"
        case .max: return "max"
        case .min: return "min"
        }
    }

    /// Applies the reduction to two values.
    @inlinable
    package func combine<Element: CollectiveElement>(_ lhs: Element, _ rhs: Element) -> Element {
        switch self {
        case .sum: return Element.collectiveSum(lhs, rhs)
        case .max: return Swift.max(lhs, rhs)
        case .min: return Swift.min(lhs, rhs)
        }
    }
}
