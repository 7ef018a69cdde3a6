/// Box bounds `lower_i <= x_i <= upper_i` handled as pycma handles them by default, so that a
/// search can run unbounded while the objective only ever sees points in the box: the search's
/// point `x` is evaluated at `t(x)`, which lies in the box, is the identity well inside it and
/// smooth (C¹) everywhere.
///
/// `t` is pycma's `BoundTransform` boundary handler, i.e. `cma.transformations.
/// BoxConstraintsLinQuadTransformation` with its default margins (`margin_width2`, pycma 4.x),
/// computed with the same floating-point operations in the same order. Per coordinate, with
/// `l = lower_i`, `u = upper_i`, the margins
///
///     al = min((u - l) / 2, max(1, |l|) / 20)      (al = 1 when l = -infinity)
///     au = min((u - l) / 2, max(1, |u|) / 20)      (au = 1 when u = +infinity)
///
/// and then, in order:
///
/// 1. Shift into one period, when `x < s` or `x > u + 2 au + (u - l) / 2`, with the start
///    `s = l - 2 al - (u - l) / 2` and the period `r = 2 (u - l + al + au)`:
///    `x <- x - r floor((x - s) / r)` (numpy's floor division: `fmod`, then snapped).
/// 2. Mirror at the ends of `[l - al, u + au]`: `x <- x - 2 (x - u - au)` when `x > u + au`,
///    then `x <- x + 2 (l - al - x)` when `x < l - al`.
/// 3. The quadratic pieces: `t = l + (x - (l - al))² / 4 / al` when `x < l + al`, then
///    `t = u - (x - (u + au))² / 4 / au` when `x > u - au`; otherwise `t = x`.
///
/// So `t` is the identity on the inner region `[l + al, u - au]` (a single point when the box is
/// narrower than the margins, as `[5, 5.5]`), reaches `l` at `l - al` and `u` at `u + au` with
/// slope 0, has slope between -1 and 1 everywhere, and repeats with period `r`. An infinite side
/// is not constrained (pycma's `None`): step 1's thresholds are then infinite, so with one bound
/// `t` is the identity up to the margin, quadratic across the bound, and beyond `l - 3 al` the
/// mirror image `2 (l - al) - x`, not periodic; with none it is the identity.
///
/// The one departure from pycma: where pycma's result leaves the box, which it does when `|x|` is
/// so large that the rounding of step 1 exceeds the box's width (about 1e17 for `[5, 5.5]`) or
/// the quotient overflows, the result is the nearest finite point of the box (the lower bound for
/// NaN), so that every finite point maps to a finite point in the box. A NaN coordinate stays NaN,
/// and an infinite one gives what pycma gives (NaN toward a bound, itself toward a free side).
public struct BoxBounds: Sendable, Equatable {
    /// Why bounds were rejected, in one line naming the coordinate (`lower[2] = 3.0 is not below
    /// upper[2] = 1.0`).
    public struct Invalid: Error, CustomStringConvertible, Sendable, Equatable {
        public var description: String
    }

    /// The largest magnitude of a finite bound: beyond it the margins and the period could
    /// overflow.
    public static let largestFiniteBound = 1e300

    /// `l_i`, `-infinity` where the coordinate has no lower bound.
    public let lower: [Double]
    /// `u_i`, `+infinity` where the coordinate has no upper bound.
    public let upper: [Double]
    /// `al_i` and `au_i`.
    let lowerMargins: [Double]
    let upperMargins: [Double]

    /// The number of coordinates.
    public var dimension: Int { lower.count }

    /// Whether no coordinate has a finite bound, so that the transform is the identity.
    public var isUnbounded: Bool { lower.allSatisfy { $0 == -.infinity } && upper.allSatisfy { $0 == .infinity } }

    /// Bounds for `dimension` coordinates; throws the one-line reason (`problem`) when invalid.
    public init(lower: [Double], upper: [Double], dimension: Int) throws(Invalid) {
        if let reason = Self.problem(lower: lower, upper: upper, dimension: dimension) { throw Invalid(description: reason) }
        self.lower = lower
        self.upper = upper
        lowerMargins = zip(lower, upper).map { l, u in l.isFinite ? Swift.min((u - l) / 2, Swift.max(1, abs(l)) / 20) : 1 }
        upperMargins = zip(lower, upper).map { l, u in u.isFinite ? Swift.min((u - l) / 2, Swift.max(1, abs(u)) / 20) : 1 }
    }

    /// Why `lower` and `upper` cannot bound `dimension` coordinates, in one line naming the first
    /// offending coordinate; nil when they can. Each needs `dimension` values, none NaN, finite
    /// ones at most `largestFiniteBound` in magnitude, and `lower[i] < upper[i]`.
    public static func problem(lower: [Double], upper: [Double], dimension: Int) -> String? {
        for (name, values) in [("lower", lower), ("upper", upper)] where values.count != dimension {
            return "\(name) has \(values.count) values, the dimension is \(dimension)"
        }
        for index in 0..<dimension {
            for (name, value) in [("lower", lower[index]), ("upper", upper[index])] {
                if value.isNaN { return "\(name)[\(index)] is NaN" }
                if value.isFinite && abs(value) > largestFiniteBound {
                    return "\(name)[\(index)] = \(value) is beyond ±1e300 (leave that side unbounded instead)"
                }
            }
            if lower[index] == .infinity { return "lower[\(index)] is +infinity, above every point" }
            if upper[index] == -.infinity { return "upper[\(index)] is -infinity, below every point" }
            if lower[index] >= upper[index] {
                return "lower[\(index)] = \(lower[index]) is not below upper[\(index)] = \(upper[index])"
            }
        }
        return nil
    }

    /// Writes `t(point)` to `result` (both of `dimension` values), allocating nothing.
    public func transform(_ point: UnsafeBufferPointer<Double>, into result: UnsafeMutableBufferPointer<Double>) {
        precondition(point.count == dimension && result.count == dimension,
                     "BoxBounds.transform: \(point.count) coordinates into \(result.count) for dimension \(dimension)")
        for index in 0..<dimension {
            result[index] = Self.transform(
                point[index], lower: lower[index], upper: upper[index],
                lowerMargin: lowerMargins[index], upperMargin: upperMargins[index])
        }
    }

    /// `t(point)`: the point in the box the search's `point` stands for.
    public func transform(_ point: [Double]) -> [Double] {
        var result = [Double](repeating: 0, count: point.count)
        point.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { transform(source, into: $0) }
        }
        return result
    }

    /// Whether `point` has `dimension` coordinates and each lies within its bounds (ends included).
    public func contains(_ point: [Double]) -> Bool {
        point.count == dimension && point.indices.allSatisfy { lower[$0] <= point[$0] && point[$0] <= upper[$0] }
    }

    /// One coordinate of `t`, the steps of the type's description with pycma's operations.
    static func transform(_ x: Double, lower l: Double, upper u: Double, lowerMargin al: Double, upperMargin au: Double) -> Double {
        if l == -.infinity && u == .infinity { return x }
        var y = x
        let halfWidth = (u - l) / 2.0
        if y < l - 2 * al - halfWidth || y > u + 2 * au + halfWidth {
            let period = 2 * (u - l + al + au)
            let start = l - 2 * al - halfWidth
            y -= period * flooredQuotient(y - start, period)
        }
        if y > u + au { y -= 2 * (y - u - au) }
        if y < l - al { y += 2 * (l - al - y) }
        if y < l + al {
            let distance = y - (l - al)
            y = l + distance * distance / 4 / al
        }
        if y > u - au {
            let distance = y - (u + au)
            y = u - distance * distance / 4 / au
        }
        guard x.isFinite, !(y.isFinite && l <= y && y <= u) else { return y }
        if y > u { return u }
        if y < l || y.isNaN { return Swift.max(l, -.greatestFiniteMagnitude) }
        return y > 0 ? .greatestFiniteMagnitude : -.greatestFiniteMagnitude
    }

    /// `a // b` of numpy (and Python) for `b > 0`: `floor(a / b)` computed from the exact
    /// remainder `fmod(a, b)`, then snapped to the nearest integer, as `npy_divmod` does.
    static func flooredQuotient(_ a: Double, _ b: Double) -> Double {
        let remainder = a.truncatingRemainder(dividingBy: b)
        var quotient = (a - remainder) / b
        if remainder != 0 && (b < 0) != (remainder < 0) { quotient -= 1 }
        guard quotient != 0 else { return (a / b).sign == .minus ? -0.0 : 0.0 }
        var floored = quotient.rounded(.down)
        if quotient - floored > 0.5 { floored += 1 }
        return floored
    }
}
