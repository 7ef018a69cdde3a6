import Linalg
import Support

/// A function covariance adaptation minimises: `value` of a point of `dimension` coordinates.
/// Throwing ends the run with the error (an external command that failed, say).
public protocol ObjectiveFunction: AnyObject {
    var dimension: Int { get }
    func value(_ point: UnsafeBufferPointer<Double>) throws -> Double
}

/// The benchmark problems of the paper's covariance adaptation demonstration (ALGORITHM.md
/// section 6), computed in-process.
public final class Objective: ObjectiveFunction {
    /// Which function.
    public enum Kind: String, NamedChoice {
        /// `f(w) = ||w||² / 2`.
        case sphere
        /// The rotated ellipsoid `f(w) = wᵀ A w / 2`, `A = Q Diag(c^(i/(n-1))) Qᵀ` with a random
        /// rotation `Q`: condition number `c`, no axis aligned with the eigenvectors.
        case ellipsoid
        /// `f(w) = Σ 100 (w_{i+1} - w_i²)² + (1 - w_i)²`, minimum 0 at `w = 1`.
        case rosenbrock
    }

    public let kind: Kind
    public let dimension: Int
    /// `A` of the ellipsoid (empty otherwise).
    private let matrix: Matrix<Double>

    /// `condition` and `rotationSeed` shape the ellipsoid; the other kinds ignore them.
    public init(kind: Kind, dimension: Int, condition: Double = 1e4, rotationSeed: UInt64 = 0) {
        precondition(dimension >= 2, "Objective: dimension \(dimension) < 2")
        self.kind = kind
        self.dimension = dimension
        if kind == .ellipsoid {
            var generator = SeededGenerator(seed: rotationSeed)
            let spectrum = (0..<dimension).map { Double.pow(condition, Double($0) / Double(dimension - 1)) }
            matrix = Matrix<Double>.randomSymmetric(eigenvalues: spectrum, using: &generator)
        } else {
            matrix = Matrix<Double>(rows: 0, columns: 0)
        }
    }

    /// `f(point)`.
    public func value(_ point: UnsafeBufferPointer<Double>) -> Double {
        precondition(point.count == dimension, "Objective.value: point of \(point.count) for dimension \(dimension)")
        switch kind {
        case .sphere:
            var sum = 0.0
            for value in point { sum += value * value }
            return 0.5 * sum
        case .ellipsoid:
            var sum = 0.0
            matrix.withUnsafeBufferPointer { a in
                for row in 0..<dimension {
                    var dot = 0.0
                    for column in 0..<dimension { dot += a[row * dimension + column] * point[column] }
                    sum += point[row] * dot
                }
            }
            return 0.5 * sum
        case .rosenbrock:
            var sum = 0.0
            for index in 0..<(dimension - 1) {
                let valley = point[index + 1] - point[index] * point[index]
                let offset = 1 - point[index]
                sum += 100 * valley * valley + offset * offset
            }
            return sum
        }
    }

    /// The conventional start: `3` in every coordinate, `0` for Rosenbrock (as in the reference).
    public var conventionalStart: Double { kind == .rosenbrock ? 0 : 3 }
}
