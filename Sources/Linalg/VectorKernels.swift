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

    /// `sum x_i y_i` over `count` elements from `x` and `y`.
    @inlinable
    package static func dot<Scalar: LinalgScalar>(_ x: UnsafePointer<Scalar>, _ y: UnsafePointer<Scalar>, count: Int) -> Scalar {
        var lanes = SIMD8<Scalar>(repeating: 0)
        var index = 0
        while index + 8 <= count {
            lanes += UnsafeRawPointer(x + index).loadUnaligned(as: SIMD8<Scalar>.self)
                * UnsafeRawPointer(y + index).loadUnaligned(as: SIMD8<Scalar>.self)
            index += 8
        }
        var sum = lanes.sum()
        while index < count {
            sum += x[index] * y[index]
            index += 1
        }
        return sum
    }

    /// `max x_i` over `count ≥ 1` elements from `start`, in four independent running maxima (the
    /// compiler cannot vectorise a floating-point max reduction, and generic SIMD select
    /// compiles to per-lane code); exact, so the value does not depend on the order.
    @inlinable
    package static func maximum<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, count: Int) -> Scalar {
        var (first, second, third, fourth) = (start[0], start[0], start[0], start[0])
        var index = 0
        while index + 4 <= count {
            first = max(first, start[index])
            second = max(second, start[index + 1])
            third = max(third, start[index + 2])
            fourth = max(fourth, start[index + 3])
            index += 4
        }
        while index < count {
            first = max(first, start[index])
            index += 1
        }
        return max(max(first, second), max(third, fourth))
    }

    /// Copies `count` elements from `source` to `destination` (which must not overlap) in SIMD
    /// lanes, the last vector overlapping the one before it instead of a scalar tail: for the
    /// short runs of im2col (a dozen elements), where a `memmove` call costs more than the copy.
    @inlinable @inline(__always)
    package static func copyShort<Scalar: LinalgScalar>(from source: UnsafePointer<Scalar>, to destination: UnsafeMutablePointer<Scalar>, count: Int) {
        let (from, to) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(destination))
        let stride = MemoryLayout<Scalar>.stride
        if count >= 8 {
            var index = 0
            while index + 8 < count {
                to.storeBytes(of: from.loadUnaligned(fromByteOffset: index * stride, as: SIMD8<Scalar>.self), toByteOffset: index * stride, as: SIMD8<Scalar>.self)
                index += 8
            }
            let last = (count - 8) * stride
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: last, as: SIMD8<Scalar>.self), toByteOffset: last, as: SIMD8<Scalar>.self)
        } else if count >= 4 {
            let last = (count - 4) * stride
            let (head, tail) = (from.loadUnaligned(as: SIMD4<Scalar>.self), from.loadUnaligned(fromByteOffset: last, as: SIMD4<Scalar>.self))
            to.storeBytes(of: head, as: SIMD4<Scalar>.self)
            to.storeBytes(of: tail, toByteOffset: last, as: SIMD4<Scalar>.self)
        } else {
            for index in 0..<count { destination[index] = source[index] }
        }
    }
}
