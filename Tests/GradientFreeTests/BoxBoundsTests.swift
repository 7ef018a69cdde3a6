import Cluster
import Foundation
import DistributedSearch
@testable import GradientFree
import Linalg
import Testing

/// Fuzz cases per property: a few thousand by default, `SPECTRAIN_FUZZ_CASES` for the long run
/// (`SPECTRAIN_FUZZ_CASES=100000 swift test --skip-build --filter BoxBoundsTests`).
private let fuzzCases = ProcessInfo.processInfo.environment["SPECTRAIN_FUZZ_CASES"].flatMap { Int($0) }.map { max($0, 1) } ?? 3000

/// The project's seeded generator with the draws the sweeps need, so every sweep sees the same cases.
private struct SweepGenerator {
    private var generator: SeededGenerator
    init(state: UInt64) { generator = SeededGenerator(seed: state) }
    mutating func next() -> UInt64 { generator.next() }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }
    mutating func sign() -> Double { next() & 1 == 0 ? 1 : -1 }
    /// `10^U(low, high)`, with a random sign.
    mutating func logUniform(_ low: Double, _ high: Double) -> Double { sign() * pow(10, uniform(low, high)) }
    mutating func choice(_ count: Int) -> Int { Int(next() % UInt64(count)) }
}

/// One coordinate's box as the sweeps draw it: two-sided, lower-only, upper-only or unbounded,
/// with ends from 0 to 1e6 in magnitude and widths from 1e-6 to 1e4.
private func randomInterval(_ generator: inout SweepGenerator) -> (lower: Double, upper: Double) {
    let anchor = generator.choice(4) == 0 ? 0 : generator.logUniform(-3, 6)
    let width = pow(10, generator.uniform(-6, 4))
    switch generator.choice(6) {
    case 0: return (anchor, .infinity)
    case 1: return (-.infinity, anchor)
    case 2: return (-.infinity, .infinity)
    default: return (anchor, anchor + width)
    }
}

/// The bounds of one coordinate.
private func interval(_ lower: Double, _ upper: Double) throws -> BoxBounds {
    try BoxBounds(lower: [lower], upper: [upper], dimension: 1)
}

/// `t(x)` of one coordinate through the public buffer API.
private func transformed(_ bounds: BoxBounds, _ x: Double) -> Double {
    bounds.transform([x])[0]
}

@Suite("Box bounds")
struct BoxBoundsTests {
    /// pycma 4.5.0 (numpy 2.4.6), the boundary handler `cma.boundary_handler.BoundTransform`
    /// (`BoxConstraintsLinQuadTransformation`, default margins): rows (lower, upper, x, t(x)),
    /// printed with 17 significant digits (exact doubles) by this one-off in the pycma venv:
    ///
    ///     import numpy as np
    ///     from cma.boundary_handler import BoundTransform
    ///     from cma.transformations import BoxConstraintsLinQuadTransformation as T
    ///     for lb, ub in [(-1, 2), (0, 1e-3), (5, 5.5), (-3, None), (None, 7), (None, None)]:
    ///         al, au = T([[lb, ub]])._al[0], T([[lb, ub]])._au[0]
    ///         xs = [0.37, -0.37, 1e6, -1e6]
    ///         if lb is not None: xs += [lb, lb + al, lb + al / 2, lb - al / 2, lb - al, lb - 2 * al, lb - 3 * al, lb - 1, lb - 1e6, lb - 1e6 - 0.3]
    ///         if ub is not None: xs += [ub, ub - au, ub - au / 2, ub + au / 2, ub + au, ub + 2 * au, ub + 3 * au, ub + 1, ub + 1e6, ub + 1e6 + 0.3]
    ///         if None not in (lb, ub): xs += [(lb + ub) / 2, lb - 10 * (ub - lb), ub + 10 * (ub - lb)]
    ///         ys = BoundTransform([[lb], [ub]]).repair(np.array(xs, dtype=float))
    ///         for x, y in zip(xs, ys):
    ///             print("(%s, %s, %.17g, %.17g)," % ("-.infinity" if lb is None else "%.17g" % lb,
    ///                   ".infinity" if ub is None else "%.17g" % ub, x, y))
    static let pycmaTable: [(lower: Double, upper: Double, x: Double, expected: Double)] = [
        (-1, 2, 0.37, 0.37),
        (-1, 2, -0.37, -0.37),
        (-1, 2, 1000000, 1),
        (-1, 2, -1000000, -0.98749999999999993),
        (-1, 2, -1, -0.98749999999999993),
        (-1, 2, -0.94999999999999996, -0.94999999999999996),
        (-1, 2, -0.97499999999999998, -0.97187499999999993),
        (-1, 2, -1.0249999999999999, -0.99687499999999996),
        (-1, 2, -1.05, -1),
        (-1, 2, -1.1000000000000001, -0.98749999999999993),
        (-1, 2, -1.1499999999999999, -0.95000000000000018),
        (-1, 2, -2, -0.10000000000000009),
        (-1, 2, -1000001, -0.10000000000000009),
        (-1, 2, -1000001.3, 0.20000000004656604),
        (-1, 2, 2, 1.9749999999999999),
        (-1, 2, 1.8999999999999999, 1.8999999999999999),
        (-1, 2, 1.95, 1.9437499999999999),
        (-1, 2, 2.0499999999999998, 1.9937499999999999),
        (-1, 2, 2.1000000000000001, 2),
        (-1, 2, 2.2000000000000002, 1.9749999999999999),
        (-1, 2, 2.2999999999999998, 1.9000000000000001),
        (-1, 2, 3, 1.2),
        (-1, 2, 1000002, 1.2),
        (-1, 2, 1000002.3, 0.89999999995343405),
        (-1, 2, 0.5, 0.5),
        (-1, 2, -31, 0.5),
        (-1, 2, 32, 0.5),
        (0, 0.001, 0.37, 0.00087499999999999915),
        (0, 0.001, -0.37, 0.00087499999999999915),
        (0, 0.001, 1000000, 0.000125),
        (0, 0.001, -1000000, 0.000125),
        (0, 0.001, 0, 0.000125),
        (0, 0.001, 0.00050000000000000001, 0.00050000000000000001),
        (0, 0.001, 0.00025000000000000001, 0.00028124999999999998),
        (0, 0.001, -0.00025000000000000001, 3.1250000000000001e-05),
        (0, 0.001, -0.00050000000000000001, 0),
        (0, 0.001, -0.001, 0.000125),
        (0, 0.001, -0.0015, 0.00050000000000000001),
        (0, 0.001, -1, 0.000125),
        (0, 0.001, -1000000, 0.000125),
        (0, 0.001, -1000000.3, 0.000125),
        (0, 0.001, 0.001, 0.00087500000000000002),
        (0, 0.001, 0.00050000000000000001, 0.00050000000000000001),
        (0, 0.001, 0.00075000000000000002, 0.00071874999999999999),
        (0, 0.001, 0.00125, 0.00096874999999999999),
        (0, 0.001, 0.0015, 0.001),
        (0, 0.001, 0.002, 0.00087500000000000002),
        (0, 0.001, 0.0025000000000000001, 0.00050000000000000001),
        (0, 0.001, 1.0009999999999999, 0.00087499999999994494),
        (0, 0.001, 1000000.001, 0.00087500002374872458),
        (0, 0.001, 1000000.3010000001, 0.00087500002374872458),
        (0, 0.001, 0.00050000000000000001, 0.00050000000000000001),
        (0, 0.001, -0.01, 0.00087500000000000002),
        (0, 0.001, 0.010999999999999999, 0.00012500000000000044),
        (5, 5.5, 0.37, 5.1444000000000001),
        (5, 5.5, -0.37, 5.4855999999999998),
        (5, 5.5, 1000000, 5.4375),
        (5, 5.5, -1000000, 5.4375),
        (5, 5.5, 5, 5.0625),
        (5, 5.5, 5.25, 5.25),
        (5, 5.5, 5.125, 5.140625),
        (5, 5.5, 4.875, 5.015625),
        (5, 5.5, 4.75, 5),
        (5, 5.5, 4.5, 5.0625),
        (5, 5.5, 4.25, 5.25),
        (5, 5.5, 4, 5.4375),
        (5, 5.5, -999995, 5.0625),
        (5, 5.5, -999995.30000000005, 5.0025000000046562),
        (5, 5.5, 5.5, 5.4375),
        (5, 5.5, 5.25, 5.25),
        (5, 5.5, 5.375, 5.359375),
        (5, 5.5, 5.625, 5.484375),
        (5, 5.5, 5.75, 5.5),
        (5, 5.5, 6, 5.4375),
        (5, 5.5, 6.25, 5.25),
        (5, 5.5, 6.5, 5.0625),
        (5, 5.5, 1000005.5, 5.4375),
        (5, 5.5, 1000005.8, 5.4974999999953438),
        (5, 5.5, 5.25, 5.25),
        (5, 5.5, 0, 5.4375),
        (5, 5.5, 10.5, 5.0625),
        (-3, .infinity, 0.37, 0.37),
        (-3, .infinity, -0.37, -0.37),
        (-3, .infinity, 1000000, 1000000),
        (-3, .infinity, -1000000, 999993.69999999995),
        (-3, .infinity, -3, -2.9624999999999999),
        (-3, .infinity, -2.8500000000000001, -2.8500000000000001),
        (-3, .infinity, -2.9249999999999998, -2.9156249999999999),
        (-3, .infinity, -3.0750000000000002, -2.9906250000000001),
        (-3, .infinity, -3.1499999999999999, -3),
        (-3, .infinity, -3.2999999999999998, -2.9624999999999999),
        (-3, .infinity, -3.4500000000000002, -2.8499999999999996),
        (-3, .infinity, -4, -2.2999999999999998),
        (-3, .infinity, -1000003, 999996.69999999995),
        (-3, .infinity, -1000003.3, 999997),
        (-.infinity, 7, 0.37, 0.37),
        (-.infinity, 7, -0.37, -0.37),
        (-.infinity, 7, 1000000, -999985.30000000005),
        (-.infinity, 7, -1000000, -1000000),
        (-.infinity, 7, 7, 6.9125000000000005),
        (-.infinity, 7, 6.6500000000000004, 6.6500000000000004),
        (-.infinity, 7, 6.8250000000000002, 6.8031250000000005),
        (-.infinity, 7, 7.1749999999999998, 6.9781250000000004),
        (-.infinity, 7, 7.3499999999999996, 7),
        (-.infinity, 7, 7.7000000000000002, 6.9125000000000005),
        (-.infinity, 7, 8.0500000000000007, 6.6499999999999995),
        (-.infinity, 7, 8, 6.6982142857142861),
        (-.infinity, 7, 1000007, -999992.30000000005),
        (-.infinity, 7, 1000007.3, -999992.60000000009),
        (-.infinity, .infinity, 0.37, 0.37),
        (-.infinity, .infinity, -0.37, -0.37),
        (-.infinity, .infinity, 1000000, 1000000),
        (-.infinity, .infinity, -1000000, -1000000),
    ]

    /// Every row of pycma's table to 1e-12 relative. The transform repeats pycma's operations in
    /// its order, so the values agree to the bit (every row did when measured); the tolerance
    /// only forgives a last-bit difference of a platform's arithmetic, and stays far below what a
    /// different order gives on the far rows: 1e6 from the box, step 1's shift `x - r k` is
    /// rounded at about 1e6 * 2^-52 = 2e-10, which shows in those rows' last digits (pycma's
    /// 0.20000000004656604 for -1000001.3 in [-1, 2]); the exact remainder instead misses them by
    /// 4e-12 to 1e-7 relative (measured), and the test fails.
    @Test("agrees with pycma's BoundTransform on a table of points inside, near, beyond and far beyond the bounds")
    func agreesWithPycma() throws {
        for row in Self.pycmaTable {
            let value = transformed(try interval(row.lower, row.upper), row.x)
            let error = abs(value - row.expected) / max(abs(row.expected), Double.leastNormalMagnitude)
            #expect(error <= 1e-12, "[\(row.lower), \(row.upper)] at \(row.x): \(value), pycma \(row.expected)")
        }
    }

    /// Many coordinates at once, one box each, give what each coordinate gives alone: the buffer
    /// API keeps coordinates apart.
    @Test("a point of many coordinates transforms coordinate by coordinate")
    func coordinatesIndependent() throws {
        let rows = Self.pycmaTable
        let bounds = try BoxBounds(lower: rows.map(\.lower), upper: rows.map(\.upper), dimension: rows.count)
        let result = bounds.transform(rows.map(\.x))
        for (index, row) in rows.enumerated() {
            #expect(result[index] == transformed(try interval(row.lower, row.upper), row.x), "coordinate \(index)")
        }
        #expect(bounds.contains(result))
    }

    /// Every finite point lands in the box, including points so far out (up to 1e20) that pycma's
    /// own arithmetic leaves it (the clamp); the sweep covers one- and two-sided bounds.
    @Test("every transformed value lies within the bounds")
    func withinBounds() throws {
        var generator = SweepGenerator(state: 1)
        for _ in 0..<fuzzCases {
            let (lower, upper) = randomInterval(&generator)
            let bounds = try interval(lower, upper)
            let centre = lower.isFinite ? lower : upper.isFinite ? upper : 0
            let width = lower.isFinite && upper.isFinite ? upper - lower : 1
            for _ in 0..<8 {
                let largestExponent: Double = generator.choice(4) == 0 ? 20 : 6
                let x = centre + width * generator.logUniform(-3, largestExponent)
                let value = transformed(bounds, x)
                #expect(value.isFinite && lower <= value && value <= upper, "[\(lower), \(upper)] at \(x): \(value)")
            }
        }
    }

    /// On pycma's inner region `[l + al, u - au]` (one-sided: from the bound's margin on) the
    /// transform returns its argument unchanged, to the bit.
    @Test("points in the inner region map to themselves exactly")
    func identityInside() throws {
        var generator = SweepGenerator(state: 2)
        for _ in 0..<fuzzCases {
            let (lower, upper) = randomInterval(&generator)
            let bounds = try interval(lower, upper)
            let (al, au) = (bounds.lowerMargins[0], bounds.upperMargins[0])
            let span = lower.isFinite && upper.isFinite ? upper - lower : pow(10, generator.uniform(-3, 6))
            let low = lower.isFinite ? lower + al : upper - au - span
            let high = upper.isFinite ? upper - au : lower + al + span
            guard low <= high else { continue }
            for x in [low, high, generator.uniform(low, high)] {
                #expect(transformed(bounds, x) == x, "[\(lower), \(upper)] at \(x): \(transformed(bounds, x))")
            }
        }
    }

    /// `|t(x + h) - t(x)| <= |h|` (the slope lies between -1 and 1 on every piece) up to rounding
    /// of a few ulps of the magnitudes involved, around every breakpoint (the margins, the mirror
    /// points, the period's ends) and at random; and `t(x + r) = t(x)` for the period `r`. A jump
    /// (a wrong mirror point, margin or period) breaks both.
    @Test("the transform is continuous, with slope at most 1, and periodic between two bounds")
    func continuous() throws {
        var generator = SweepGenerator(state: 3)
        for _ in 0..<fuzzCases {
            let (lower, upper) = randomInterval(&generator)
            let bounds = try interval(lower, upper)
            let (al, au) = (bounds.lowerMargins[0], bounds.upperMargins[0])
            let twoSided = lower.isFinite && upper.isFinite
            let width = twoSided ? upper - lower : 1
            let period = 2 * (width + al + au)
            let start = lower - 2 * al - width / 2
            var breakpoints: [Double] = lower.isFinite ? [lower - 3 * al, lower - al, lower + al] : []
            if upper.isFinite { breakpoints += [upper - au, upper + au, upper + 3 * au] }
            if twoSided { breakpoints += [start, start + period, start - period] }
            if breakpoints.isEmpty { breakpoints = [0] }
            for _ in 0..<8 {
                let x = generator.choice(2) == 0
                    ? breakpoints[generator.choice(breakpoints.count)] + width * 1e-2 * generator.uniform(-1, 1)
                    : (lower.isFinite ? lower : upper.isFinite ? upper : 0) + width * generator.logUniform(-3, 3)
                let h = width * generator.logUniform(-9, -2)
                let magnitude = abs(x) + abs(h) + (lower.isFinite ? abs(lower) : 0) + (upper.isFinite ? abs(upper) : 0) + 2 * period
                let rounding = 8 * magnitude * Double.ulpOfOne
                let change = abs(transformed(bounds, x + h) - transformed(bounds, x))
                #expect(change <= abs(h) + rounding, "[\(lower), \(upper)] at \(x), step \(h): change \(change)")
                if twoSided {
                    let shifted = abs(transformed(bounds, x + period) - transformed(bounds, x))
                    #expect(shifted <= rounding, "[\(lower), \(upper)] at \(x): t(x + \(period)) - t(x) = \(shifted)")
                }
            }
        }
    }

    /// A sphere whose optimum lies outside the box, minimised by CMA through the bounds: the
    /// run reaches `f* + 1e-9` (f* the constrained minimum, at the projection `p` of the optimum)
    /// and the feasible mean is in the box and within 1e-4 of `p` per coordinate. For a point `y`
    /// of the box, `f(y) - f* >= |y - p|²` (the sphere is 1-strongly convex and `p` its minimum on
    /// the box), so reaching the target puts `y` within sqrt(1e-9) = 3.2e-5 of `p`; 1e-4 leaves
    /// room for the value's rounding (1e-14 at f* = 60). Measured over seeds 1-40: all reached the
    /// target in 1,500-6,900 evaluations (budget 20,000), the largest error 2.6e-5.
    @Test("CMA minimises a sphere through the bounds to the projection of its optimum onto the box")
    func constrainedSphere() throws {
        let lower: [Double] = [-1, -1, 0, -.infinity, 2, -.infinity]
        let upper: [Double] = [2, 2, 1e-3, 1, .infinity, .infinity]
        let optimum: [Double] = [3, 0.5, -1, 4, -5, 7]
        let projection = zip(optimum, zip(lower, upper)).map { min(max($0, $1.0), $1.1) }
        let constrainedMinimum = zip(optimum, projection).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        let sphere = Objective(kind: .sphere, dimension: 6, rotated: false, shift: optimum)
        let bounded = BoundedObjective(sphere, bounds: try BoxBounds(lower: lower, upper: upper, dimension: 6))
        let search = try CMASearch(dimension: 6, start: [Double](repeating: 0.5, count: 6), options: AdaptationOptions(), seed: 7)
        let outcome = try AdaptationRun.run(
            search, objective: bounded, stop: .init(target: constrainedMinimum + 1e-9, maxEvaluations: 20_000),
            communicator: SingleProcessCommunicator())
        #expect(outcome.reachedTarget, "\(outcome.stopReason) after \(outcome.evaluations) evaluations at \(outcome.finalValue)")
        let solution = bounded.feasible(outcome.mean)
        #expect(bounded.bounds.contains(solution), "\(solution)")
        for index in 0..<6 {
            #expect(abs(solution[index] - projection[index]) <= 1e-4, "coordinate \(index): \(solution[index]), projection \(projection[index])")
        }
        let value = solution.withUnsafeBufferPointer { sphere.value($0) }
        #expect(value == outcome.finalValue)
    }

    /// `values` of some rows equals `value` of each, to the bit, leaves the other entries alone,
    /// and hands the wrapped objective all the rows in one call, transformed; also after the
    /// matrix changes shape.
    @Test("values(of:rows:into:) gives value's numbers row by row, in one call to the wrapped objective")
    func batchMatchesSingle() throws {
        let lower: [Double] = [-1, 0, 5, -3, -.infinity, -.infinity]
        let upper: [Double] = [2, 1e-3, 5.5, .infinity, 7, .infinity]
        let bounds = try BoxBounds(lower: lower, upper: upper, dimension: 6)
        let ellipsoid = Objective(kind: .ellipsoid, dimension: 6, rotationSeed: 3)
        let counting = CountingObjective(ellipsoid)
        let bounded = BoundedObjective(counting, bounds: bounds)
        var generator = SweepGenerator(state: 4)
        for (rows, range) in [(9, 2..<7), (4, 0..<4), (9, 0..<9), (3, 1..<1)] {
            let points = Matrix<Double>(rows: rows, columns: 6) { _, _ in generator.logUniform(-2, 6) }
            var values = [Double](repeating: -1, count: rows)
            let callsBefore = counting.batchCalls
            try bounded.values(of: points, rows: range, into: &values)
            #expect(counting.batchCalls == callsBefore + 1)
            for row in 0..<rows {
                let point = (0..<6).map { points[row, $0] }
                if range.contains(row) {
                    let single = try point.withUnsafeBufferPointer { try bounded.value($0) }
                    #expect(values[row].bitPattern == single.bitPattern, "row \(row): \(values[row]) against \(single)")
                    let seen = (0..<6).map { counting.lastBatch[row, $0] }
                    #expect(seen == bounds.transform(point) && bounds.contains(seen), "row \(row)")
                } else {
                    #expect(values[row] == -1, "row \(row) outside \(range) was written")
                }
            }
        }
    }

    /// Each kind of invalid bounds is refused with its one-line reason.
    @Test("invalid bounds are refused with a one-line reason", arguments: [
        ([0.0, 0], [1.0], 2, "upper has 1 values, the dimension is 2"),
        ([0.0, 0], [1.0, 1], 3, "lower has 2 values, the dimension is 3"),
        ([0.0, 2], [1.0, 1], 2, "lower[1] = 2.0 is not below upper[1] = 1.0"),
        ([0.0, 1], [1.0, 1], 2, "lower[1] = 1.0 is not below upper[1] = 1.0"),
        ([0.0, .nan], [1.0, 1], 2, "lower[1] is NaN"),
        ([0.0, 0], [.nan, 1], 2, "upper[0] is NaN"),
        ([-2e300, 0], [1.0, 1], 2, "lower[0] = -2e+300 is beyond ±1e300 (leave that side unbounded instead)"),
        ([0.0, 0], [1.0, 1.5e300], 2, "upper[1] = 1.5e+300 is beyond ±1e300 (leave that side unbounded instead)"),
        ([.infinity, 0], [.infinity, 1], 2, "lower[0] is +infinity, above every point"),
        ([0.0, -.infinity], [1.0, -.infinity], 2, "upper[1] is -infinity, below every point"),
    ] as [([Double], [Double], Int, String)])
    func invalid(lower: [Double], upper: [Double], dimension: Int, reason: String) {
        #expect(BoxBounds.problem(lower: lower, upper: upper, dimension: dimension) == reason)
        do {
            _ = try BoxBounds(lower: lower, upper: upper, dimension: dimension)
            Issue.record("accepted \(lower), \(upper)")
        } catch {
            #expect(error.description == reason)
        }
    }

    /// The limits themselves are valid: ±1e300, infinities on their own side, widths down to
    /// one ulp; and unbounded bounds transform nothing.
    @Test("bounds at the limits are accepted; unbounded bounds are the identity")
    func limits() throws {
        let bounds = try BoxBounds(
            lower: [-1e300, -.infinity, 1, -.infinity], upper: [1e300, 1e300, 1.0.nextUp, .infinity], dimension: 4)
        #expect(!bounds.isUnbounded)
        let far = bounds.transform([1e308, -1e308, -1e308, 1e308])
        #expect(bounds.contains(far) && far.allSatisfy(\.isFinite), "\(far)")
        let free = try BoxBounds(lower: [-.infinity, -.infinity], upper: [.infinity, .infinity], dimension: 2)
        #expect(free.isUnbounded)
        #expect(free.transform([1e308, -3.5]) == [1e308, -3.5])
        #expect(free.contains([1, 2]) && !free.contains([1]) && !free.contains([.nan, 0]))
    }

    /// Random bound arrays, NaN, infinities and huge values included: never a trap; either a
    /// one-line reason or bounds that take random points, huge ones included, into the box.
    @Test("random bounds are either refused in one line or keep every finite point in the box")
    func randomBounds() throws {
        var generator = SweepGenerator(state: 5)
        let specials: [Double] = [.nan, .infinity, -.infinity, 1e300, -1e300, 2e300, .greatestFiniteMagnitude, 0, -0.0, 1]
        func draw() -> Double {
            generator.choice(4) == 0 ? specials[generator.choice(specials.count)] : generator.logUniform(-8, 8)
        }
        for _ in 0..<fuzzCases {
            let dimension = 1 + generator.choice(4)
            let lower = (0..<(dimension + (generator.choice(8) == 0 ? 1 : 0))).map { _ in draw() }
            let upper = (0..<dimension).map { _ in draw() }
            do {
                let bounds = try BoxBounds(lower: lower, upper: upper, dimension: dimension)
                let point = (0..<dimension).map { _ in generator.logUniform(-8, 308) }
                let result = bounds.transform(point)
                #expect(bounds.contains(result) && result.allSatisfy(\.isFinite), "\(lower) \(upper) at \(point): \(result)")
            } catch {
                #expect(!error.description.isEmpty && !error.description.contains("\n"), "\(error.description)")
            }
        }
    }
}

/// Counts the wrapped objective's batch calls and keeps the last batch it was given.
private final class CountingObjective: ObjectiveFunction {
    let objective: any ObjectiveFunction
    var batchCalls = 0
    var lastBatch = Matrix<Double>(rows: 0, columns: 0)
    var dimension: Int { objective.dimension }

    init(_ objective: any ObjectiveFunction) { self.objective = objective }

    func value(_ point: UnsafeBufferPointer<Double>) throws -> Double { try objective.value(point) }

    func values(of points: Matrix<Double>, rows: Range<Int>, into values: inout [Double]) throws {
        batchCalls += 1
        lastBatch = points
        try points.withUnsafeBufferPointer { elements in
            for row in rows {
                values[row] = try objective.value(UnsafeBufferPointer(rebasing: elements[(row * dimension)..<((row + 1) * dimension)]))
            }
        }
    }
}
