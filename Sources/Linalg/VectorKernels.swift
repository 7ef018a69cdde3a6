/// Reductions over contiguous elements in eight SIMD lanes: vectorised, yet in a fixed order
/// (lane `l` sums elements `l, l + 8, ...`, then the lanes and the tail are added), so a value
/// does not depend on the machine or on how callers split their work.
@usableFromInline package enum VectorKernels {
    /// `sum x_i²` over `count` elements from `start`.
    @inlinable
    package static func sumOfSquares<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, count: Int) -> Scalar {
        laneSum(count: count) { index in
            let values = lanes(start, index)
            return values * values
        } term: { index in
            start[index] * start[index]
        }
    }

    /// `sum x_i` over `count` elements from `start`.
    @inlinable
    package static func sum<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, count: Int) -> Scalar {
        laneSum(count: count) { lanes(start, $0) } term: { start[$0] }
    }

    /// `sum (x_i - center)²` over `count` elements from `start`.
    @inlinable
    package static func sumOfSquares<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, count: Int, minus center: Scalar) -> Scalar {
        let centers = SIMD8<Scalar>(repeating: center)
        return laneSum(count: count) { index in
            let deviations = lanes(start, index) - centers
            return deviations * deviations
        } term: { index in
            let deviation = start[index] - center
            return deviation * deviation
        }
    }

    /// `sum x_i y_i` over `count` elements from `x` and `y`.
    @inlinable
    package static func dot<Scalar: LinalgScalar>(_ x: UnsafePointer<Scalar>, _ y: UnsafePointer<Scalar>, count: Int) -> Scalar {
        laneSum(count: count) { lanes(x, $0) * lanes(y, $0) } term: { x[$0] * y[$0] }
    }

    /// The fixed summation order of every reduction here: the terms of `0..<count` eight at a
    /// time (`laneTerms(i)` gives terms `i..<i + 8`, lane `l` accumulating `l, l + 8, ...`),
    /// then the lanes' sum, then the tail's `term(i)` in order.
    @inlinable @inline(__always)
    static func laneSum<Scalar: LinalgScalar>(
        count: Int, _ laneTerms: (Int) -> SIMD8<Scalar>, term: (Int) -> Scalar
    ) -> Scalar {
        var accumulated = SIMD8<Scalar>(repeating: 0)
        var index = 0
        while index + 8 <= count {
            accumulated += laneTerms(index)
            index += 8
        }
        var sum = accumulated.sum()
        while index < count {
            sum += term(index)
            index += 1
        }
        return sum
    }

    /// The eight elements from `start + index`.
    @inlinable @inline(__always)
    static func lanes<Scalar: LinalgScalar>(_ start: UnsafePointer<Scalar>, _ index: Int) -> SIMD8<Scalar> {
        UnsafeRawPointer(start + index).loadUnaligned(as: SIMD8<Scalar>.self)
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
