/// Reductions over contiguous elements in eight SIMD lanes: vectorised, yet in a fixed order
/// (lane `l` sums elements `l, l + 8, ...`, then the lanes and the tail are added), so a value
/// does not depend on the machine or on how callers split their work.
@usableFromInline package enum VectorKernels {
    /// `sum x_i²` over `count` elements from `start`.
    @inlinable
    package static func sumOfSquares<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, count: Int) -> Scalar {
        var lanes = SIMD8<Scalar>(repeating: 0)
        var index = 0
        while index + 8 <= count {
            let values = UnsafeRawPointer(start + index).loadUnaligned(as: SIMD8<Scalar>.self)
            lanes += values * values
            index += 8
        }
        var sum = lanes.sum()
        while index < count {
            sum += start[index] * start[index]
            index += 1
        }
        return sum
    }

    /// `sum x_i` over `count` elements from `start`.
    @inlinable
    package static func sum<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, count: Int) -> Scalar {
        var lanes = SIMD8<Scalar>(repeating: 0)
        var index = 0
        while index + 8 <= count {
            lanes += UnsafeRawPointer(start + index).loadUnaligned(as: SIMD8<Scalar>.self)
            index += 8
        }
        var sum = lanes.sum()
        while index < count {
            sum += start[index]
            index += 1
        }
        return sum
    }

    /// `sum (x_i - center)²` over `count` elements from `start`.
    @inlinable
    package static func sumOfSquares<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, count: Int, minus center: Scalar) -> Scalar {
        var lanes = SIMD8<Scalar>(repeating: 0)
        let centers = SIMD8<Scalar>(repeating: center)
        var index = 0
        while index + 8 <= count {
            let deviations = UnsafeRawPointer(start + index).loadUnaligned(as: SIMD8<Scalar>.self) - centers
            lanes += deviations * deviations
            index += 8
        }
        var sum = lanes.sum()
        while index < count {
            let deviation = start[index] - center
            sum += deviation * deviation
            index += 1
        }
        return sum
    }
}
