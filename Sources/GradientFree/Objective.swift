import Foundation
import Linalg
import Support

/// A function covariance adaptation minimises: `value` of a point of `dimension` coordinates.
/// Throwing ends the run with the error (an external command that failed, say).
public protocol ObjectiveFunction: AnyObject {
    /// The number of coordinates of a point.
    var dimension: Int { get }
    /// The function's value at `point` (`dimension` coordinates); lower is better.
    func value(_ point: UnsafeBufferPointer<Double>) throws -> Double
    /// Writes the value of each row of `points` in `rows` (one point of `dimension` coordinates
    /// per row) to the same index of `values`: one call for a rank's share of an iteration, so
    /// that a function that pays per call (a command's round trip) can take them all at once.
    func values(of points: Matrix<Double>, rows: Range<Int>, into values: inout [Double]) throws
    /// Says which evaluations of the run come next, as a number the search loop derives from the
    /// restart, iteration and repetition: the same on every rank, so that a noisy function can
    /// draw noise that does not depend on how the candidates are spread over ranks. Most
    /// functions ignore it.
    func beginRound(_ round: UInt64)
}

extension ObjectiveFunction {
    public func beginRound(_ round: UInt64) {}

    /// Evaluates the rows one by one with `value(_:)`, in order: for a function whose cost is
    /// the same however its points come.
    public func values(of points: Matrix<Double>, rows: Range<Int>, into values: inout [Double]) throws {
        precondition(points.columns == dimension && rows.upperBound <= points.rows && rows.upperBound <= values.count,
                     "ObjectiveFunction.values: rows \(rows) of a \(points.rows) x \(points.columns) matrix into \(values.count) values, dimension \(dimension)")
        let dimension = dimension
        try points.withUnsafeBufferPointer { elements in
            for row in rows {
                values[row] = try value(UnsafeBufferPointer(rebasing: elements[(row * dimension)..<((row + 1) * dimension)]))
            }
        }
    }
}

/// The standard test functions of gradient-free minimisation, as pycma (`cma.ff`) and BBOB
/// define them, computed in-process so benchmarks need no external command.
///
/// Each is a function `g` of `z = Q (x - o)`: `o` is the shift (where the optimum is) and `Q` a
/// random orthogonal matrix drawn from `rotationSeed` when the function is rotated, else the
/// identity, so no coordinate axis is special. Every minimum value is 0: at `x = o`, and for
/// Rosenbrock at `x = o + Qᵀ 1`. Indices run from 1 to `n` in the formulas of `Kind`.
///
/// One evaluation costs O(n²) with the rotation, O(n) without, and allocates nothing: the
/// transformed point goes into a scratch buffer, so an instance must be evaluated from one thread
/// at a time.
public final class Objective: ObjectiveFunction {
    /// Which function `g(z)`.
    public enum Kind: String, NamedChoice {
        /// `Σ z_i²`.
        case sphere
        /// `Σ c^((i-1)/(n-1)) z_i²`: curvatures spread evenly on a log scale over condition `c`.
        case ellipsoid
        /// `z_1² + c Σ_{i≥2} z_i²`: one direction `c` times flatter than the others.
        case cigar
        /// `c z_1² + Σ_{i≥2} z_i²`: one direction `c` times steeper than the others.
        case discus
        /// `Σ |z_i|^(2 + 10 (i-1)/(n-1))`: pycma's `diffpow`, sensitivities that differ by powers.
        case differentPowers
        /// `z_1² + 100 sqrt(Σ_{i≥2} z_i²)`: BBOB f13 without its transformations, a ridge with a
        /// kink along the first direction.
        case sharpRidge
        /// `10 n + Σ (z_i² - 10 cos(2π z_i))`: a sphere with a local minimum near every integer point.
        case rastrigin
        /// `Σ_{i<n} 100 (z_{i+1} - z_i²)² + (1 - z_i)²`: a curved valley, minimum at `z = 1`.
        case rosenbrock

        /// Whether the condition `c` shapes the function (ellipsoid, cigar, discus).
        public var hasCondition: Bool {
            switch self {
            case .ellipsoid, .cigar, .discus: true
            default: false
            }
        }

        /// Whether the function is rotated unless told otherwise: all but Rosenbrock, which pycma
        /// (`rosen`) leaves unrotated.
        public var isRotatedByDefault: Bool { self != .rosenbrock }

        /// The conventional start: `3` in every coordinate, `0` for Rosenbrock (as in the reference).
        public var conventionalStart: Double { self == .rosenbrock ? 0 : 3 }
    }

    /// The condition `c` of ellipsoid, cigar and discus unless told otherwise, pycma's.
    public static let defaultCondition = 1e6

    /// Which function `g`.
    public let kind: Kind
    /// `n`, the number of coordinates.
    public let dimension: Int
    /// `c` (1 for the kinds without one).
    public let condition: Double
    /// `o`: the shift, where the optimum is (`Qᵀ 1` away from it for Rosenbrock).
    public let shift: [Double]
    /// Whether `Q` is a random rotation rather than the identity.
    public let isRotated: Bool
    /// `Q` row-major when rotated (row `i` is the direction `z_i` measures), else empty.
    private let rotation: [Double]
    /// The coefficient of `z_i²` of the quadratic kinds (sphere, ellipsoid, cigar, discus), or
    /// the exponent of `|z_i|` of differentPowers; empty for the others.
    private let coordinateFactors: [Double]
    /// Room for `x - o` and then `z`: `2 n` values.
    private let scratch: UnsafeMutableBufferPointer<Double>

    /// The function `kind` on `dimension` coordinates, with the optimum moved to `shift` (nil: the
    /// origin) and, when `rotated` (nil: `kind.isRotatedByDefault`), seen through the rotation
    /// drawn from `rotationSeed`. `condition` applies to ellipsoid, cigar and discus.
    public init(
        kind: Kind, dimension: Int, condition: Double = Objective.defaultCondition, rotated: Bool? = nil,
        rotationSeed: UInt64 = 0, shift: [Double]? = nil
    ) {
        precondition(dimension >= 2, "Objective: dimension \(dimension) < 2")
        precondition(condition >= 1 && condition.isFinite, "Objective: condition \(condition) is not a finite number >= 1")
        precondition(shift.map { $0.count == dimension && $0.allSatisfy(\.isFinite) } ?? true,
                     "Objective: the shift needs \(dimension) finite values")
        self.kind = kind
        self.dimension = dimension
        self.condition = kind.hasCondition ? condition : 1
        self.shift = shift ?? [Double](repeating: 0, count: dimension)
        isRotated = rotated ?? kind.isRotatedByDefault
        if isRotated {
            // Q = Bᵀ for the random orthogonal B, so Qᵀ Diag(λ) Q = B Diag(λ) Bᵀ is the matrix
            // `Matrix.randomSymmetric(eigenvalues:using:)` makes from the same seed.
            var generator = SeededGenerator(seed: rotationSeed)
            let basis = Matrix<Double>.randomOrthogonal(dimension, using: &generator)
            rotation = Matrix<Double>(rows: dimension, columns: dimension) { row, column in basis[column, row] }.elements
        } else {
            rotation = []
        }
        let n = dimension
        let fraction = { (index: Int) in Double(index) / Double(n - 1) }
        switch kind {
        case .sphere: coordinateFactors = [Double](repeating: 1, count: n)
        case .ellipsoid: coordinateFactors = (0..<n).map { pow(condition, fraction($0)) }
        case .cigar: coordinateFactors = [1] + [Double](repeating: condition, count: n - 1)
        case .discus: coordinateFactors = [condition] + [Double](repeating: 1, count: n - 1)
        case .differentPowers: coordinateFactors = (0..<n).map { 2 + 10 * fraction($0) }
        case .sharpRidge, .rastrigin, .rosenbrock: coordinateFactors = []
        }
        scratch = .allocate(capacity: 2 * n)
        scratch.initialize(repeating: 0)
    }

    deinit { scratch.deallocate() }

    /// `f(x) = g(Q (x - o))`, the `Kind`'s formula of the transformed point.
    public func value(_ point: UnsafeBufferPointer<Double>) -> Double {
        precondition(point.count == dimension, "Objective.value: point of \(point.count) for dimension \(dimension)")
        let z = transformed(point)
        let n = dimension
        switch kind {
        case .sphere, .ellipsoid, .cigar, .discus:
            var sum = 0.0
            for index in 0..<n { sum += coordinateFactors[index] * z[index] * z[index] }
            return sum
        case .differentPowers:
            var sum = 0.0
            for index in 0..<n { sum += pow(abs(z[index]), coordinateFactors[index]) }
            return sum
        case .sharpRidge:
            var ridge = 0.0
            for index in 1..<n { ridge += z[index] * z[index] }
            return z[0] * z[0] + 100 * ridge.squareRoot()
        case .rastrigin:
            var sum = 0.0
            for index in 0..<n { sum += z[index] * z[index] - 10 * cos(2 * Double.pi * z[index]) }
            return 10 * Double(n) + sum
        case .rosenbrock:
            var sum = 0.0
            for index in 0..<(n - 1) {
                let valley = z[index + 1] - z[index] * z[index]
                let offset = 1 - z[index]
                sum += 100 * valley * valley + offset * offset
            }
            return sum
        }
    }

    /// `z = Q (x - o)` in the scratch buffer (`x - o` itself when not rotated).
    private func transformed(_ point: UnsafeBufferPointer<Double>) -> UnsafeBufferPointer<Double> {
        let n = dimension
        let centered = UnsafeMutableBufferPointer(rebasing: scratch[0..<n])
        for index in 0..<n { centered[index] = point[index] - shift[index] }
        guard isRotated else { return UnsafeBufferPointer(centered) }
        let z = UnsafeMutableBufferPointer(rebasing: scratch[n..<(2 * n)])
        rotation.withUnsafeBufferPointer { q in
            for row in 0..<n {
                var dot = 0.0
                for column in 0..<n { dot += q[row * n + column] * centered[column] }
                z[row] = dot
            }
        }
        return UnsafeBufferPointer(z)
    }

    /// Where the minimum 0 is: `x = o`, or `x = o + Qᵀ 1` for Rosenbrock (its `z = 1`).
    public var optimum: [Double] {
        guard kind == .rosenbrock else { return shift }
        guard isRotated else { return shift.map { $0 + 1 } }
        return (0..<dimension).map { column in
            var sum = shift[column]
            for row in 0..<dimension { sum += rotation[row * dimension + column] }
            return sum
        }
    }

    /// The conventional start, `kind.conventionalStart` in every coordinate.
    public var conventionalStart: Double { kind.conventionalStart }
}
