import Foundation
@testable import GradientFree
import Linalg
import Support
import Testing

/// The built-in test functions against their pycma/BBOB definitions: hand-computed values, the
/// optimum where the shift and rotation put it, the spectrum of the quadratic ones, and the
/// per-coordinate setting the configuration gives shifts and starts with.
@Suite("Test functions")
struct TestFunctionTests {
    /// `f(point)`.
    func value(_ objective: Objective, _ point: [Double]) -> Double {
        point.withUnsafeBufferPointer { objective.value($0) }
    }

    /// `count` standard normal numbers.
    func gaussian(_ count: Int, _ generator: inout SeededGenerator) -> [Double] {
        (0..<count).map { _ in generator.nextGaussian(Double.self) }
    }

    @Test("a hand-computed value of each function (unrotated, n = 2 or 3), so a wrong formula fails", arguments: [
        // 1 + 4 + 4
        (Objective.Kind.sphere, [1.0, 2, 2], 9.0),
        // c = 100: weights 1, 10, 100: 1 + 10 * 4 + 100 * 9
        (.ellipsoid, [1, 2, 3], 941),
        // 1 + 100 * (4 + 9)
        (.cigar, [1, 2, 3], 1301),
        // 100 * 1 + 4 + 9
        (.discus, [1, 2, 3], 113),
        // exponents 2, 7, 12: 2² + 2⁷ + 2¹²
        (.differentPowers, [-2, 2, -2], 4228),
        // 1 + 100 sqrt(9 + 16)
        (.sharpRidge, [1, 3, 4], 501),
        // 20 + (1 - 10 cos 2π) + (0.25 - 10 cos π) = 20 - 9 + 10.25
        (.rastrigin, [1, 0.5], 21.25),
        // 100 (2 - 1)² + 0 + 100 (3 - 4)² + (1 - 2)²
        (.rosenbrock, [1, 2, 3], 201),
        // (1 - 0)² twice
        (.rosenbrock, [0, 0, 0], 2),
    ])
    func handComputed(kind: Objective.Kind, point: [Double], expected: Double) {
        let objective = Objective(kind: kind, dimension: point.count, condition: 100, rotated: false)
        #expect(abs(value(objective, point) - expected) <= 1e-12 * expected, "\(kind): \(value(objective, point)) instead of \(expected)")
    }

    @Test("the shift moves the optimum: f(x) = g(x - o)")
    func shiftedByHand() {
        let sphere = Objective(kind: .sphere, dimension: 3, rotated: false, shift: [1, 1, 1])
        #expect(value(sphere, [2, 3, 3]) == 9)
        let rosenbrock = Objective(kind: .rosenbrock, dimension: 3, shift: [1, 1, 1])
        #expect(value(rosenbrock, [1, 1, 1]) == 2)
        #expect(value(rosenbrock, [2, 2, 2]) == 0)
        #expect(rosenbrock.optimum == [2, 2, 2])
    }

    @Test("each function is 0 at its optimum, shifted and rotated, and positive around it",
          arguments: Objective.Kind.allCases)
    func optimum(kind: Objective.Kind) {
        var generator = SeededGenerator(seed: 11)
        for dimension in [2, 7] {
            let shift = gaussian(dimension, &generator).map { 2 * $0 }
            let objective = Objective(kind: kind, dimension: dimension, rotated: true, rotationSeed: 5, shift: shift)
            let optimum = objective.optimum
            if kind == .rosenbrock {
                // o + Qᵀ 1 with Q orthogonal: at distance sqrt(n) from the shift.
                let distance = zip(optimum, shift).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                #expect(abs(distance - Double(dimension).squareRoot()) < 1e-12)
                #expect(value(objective, optimum) < 1e-25)
            } else {
                #expect(optimum == shift)
                #expect(value(objective, optimum) == 0)
            }
            for scale in [1e-3, 0.1, 3] {
                for _ in 0..<50 {
                    let point = zip(optimum, gaussian(dimension, &generator)).map { $0 + scale * $1 }
                    #expect(value(objective, point) > 0, "\(kind), n = \(dimension): f(\(point)) = \(value(objective, point))")
                }
            }
        }
    }

    @Test("the sphere is the same function rotated or not; the ellipsoid is not")
    func rotationInvariance() {
        var generator = SeededGenerator(seed: 3)
        let shift = gaussian(6, &generator)
        let plain = Objective(kind: .sphere, dimension: 6, rotated: false, shift: shift)
        let rotated = [1, 2].map { Objective(kind: .sphere, dimension: 6, rotated: true, rotationSeed: $0, shift: shift) }
        let ellipsoid = Objective(kind: .ellipsoid, dimension: 6, rotated: false, shift: shift)
        let rotatedEllipsoid = Objective(kind: .ellipsoid, dimension: 6, rotated: true, shift: shift)
        var largestChange = 0.0
        for _ in 0..<100 {
            let point = gaussian(6, &generator).map { 3 * $0 }
            let expected = value(plain, point)
            for objective in rotated {
                #expect(abs(value(objective, point) - expected) <= 1e-13 * expected)
            }
            largestChange = max(largestChange, abs(value(rotatedEllipsoid, point) / value(ellipsoid, point) - 1))
        }
        #expect(largestChange > 0.5)
    }

    /// `A` of the quadratic `f(o + w) = wᵀ A w`, read from values: `A_ii = f(o + e_i)`,
    /// `A_ij = (f(o + e_i + e_j) - f(o + e_i) - f(o + e_j)) / 2`.
    func quadraticForm(_ objective: Objective) -> Matrix<Double> {
        let n = objective.dimension
        func f(_ steps: [Int]) -> Double {
            var point = objective.shift
            for index in steps { point[index] += 1 }
            return value(objective, point)
        }
        return Matrix<Double>(rows: n, columns: n) { row, column in
            row == column ? f([row]) : (f([row, column]) - f([row]) - f([column])) / 2
        }
    }

    @Test("ellipsoid, cigar and discus: curvature c^((i-1)/(n-1)), (1, c, ..., c), (c, 1, ..., 1) along their eigen-directions",
          arguments: [Objective.Kind.ellipsoid, .cigar, .discus], [1e4, 1e6])
    func conditionAlongEigenDirections(kind: Objective.Kind, condition: Double) throws {
        let n = 6
        var generator = SeededGenerator(seed: 8)
        let objective = Objective(kind: kind, dimension: n, condition: condition, rotationSeed: 4, shift: gaussian(n, &generator))
        let expected: [Double] = switch kind {
        case .ellipsoid: (0..<n).map { pow(condition, Double($0) / Double(n - 1)) }
        case .cigar: [1] + [Double](repeating: condition, count: n - 1)
        default: [condition] + [Double](repeating: 1, count: n - 1)
        }
        let (eigenvalues, eigenvectors) = try SymmetricEigensolver<Double>.decompose(quadraticForm(objective))
        for (found, wanted) in zip(eigenvalues, expected.sorted()) {
            #expect(abs(found - wanted) <= 1e-9 * condition, "\(kind): eigenvalue \(found) instead of \(wanted)")
        }
        // Along each eigen-direction v: f(o + t v) = λ t².
        for (index, eigenvalue) in eigenvalues.enumerated() {
            let t = 0.7
            let point = (0..<n).map { objective.shift[$0] + t * eigenvectors[$0, index] }
            let curvature = value(objective, point) / (t * t)
            #expect(abs(curvature - eigenvalue) <= 1e-9 * eigenvalue, "\(kind): curvature \(curvature) along eigenvalue \(eigenvalue)")
        }
        #expect(abs(eigenvalues.last! / eigenvalues.first! / condition - 1) < 1e-9)
        // Rotated: no coordinate axis is an eigen-direction.
        let largestComponent = (0..<n).map { row in (0..<n).map { abs(eigenvectors[row, $0]) }.max()! }.max()!
        #expect(largestComponent < 1 - 1e-3)
    }

    @Test("Rastrigin has a local minimum near every integer, a little closer to 0, above k²·(1 - 1%)")
    func rastriginLocalMinima() {
        let objective = Objective(kind: .rastrigin, dimension: 2, rotated: false)
        for k in -3...3 {
            // The minimum of f(t, 0) over [k - 0.45, k + 0.45], sampled every 1e-5.
            let step = 1e-5
            var best = (t: 0.0, value: Double.infinity)
            for sample in 0...90_000 {
                let t = Double(k) - 0.45 + Double(sample) * step
                let f = value(objective, [t, 0])
                if f < best.value { best = (t, f) }
            }
            // f' = 2t + 20π sin(2πt) = 0 near k: t ≈ k · 40π² / (2 + 40π²).
            let predicted = Double(k) * 40 * Double.pi * Double.pi / (2 + 40 * Double.pi * Double.pi)
            #expect(abs(best.t - predicted) <= 2 * step, "k = \(k): minimum at \(best.t), predicted \(predicted)")
            #expect(abs(best.t - Double(k)) < 0.02)
            // Interior, so a local minimum: higher on both sides.
            #expect(value(objective, [best.t - 0.05, 0]) > best.value && value(objective, [best.t + 0.05, 0]) > best.value)
            let square = Double(k * k)
            #expect(best.value <= square + 1e-12 && best.value >= 0.99 * square)
            #expect(k == 0 ? best.value < 1e-12 : best.value > 0.5)
        }
    }

    @Test("rosenbrock is unrotated unless told otherwise; the others are rotated")
    func rotationDefaults() {
        for kind in Objective.Kind.allCases {
            #expect(Objective(kind: kind, dimension: 3).isRotated == (kind != .rosenbrock))
        }
        #expect(Objective(kind: .rosenbrock, dimension: 3, rotated: true).isRotated)
        #expect(Objective(kind: .cigar, dimension: 3).condition == 1e6)
        #expect(Objective(kind: .sphere, dimension: 3, condition: 50).condition == 1)
    }
}

/// `PerCoordinate`: one number or one per coordinate, read and written as given.
@Suite("Per-coordinate settings")
struct PerCoordinateTests {
    /// A configuration with one per-coordinate field, as `spectrain es` declares its shift.
    struct Settings: ConfigRecord, Equatable {
        var shift: PerCoordinate?
        static let fields: [ConfigField<Settings>] = [.init("shift", \.shift, .finite)]
        static func defaults(given _: GivenFields<Settings>) -> Settings { Settings() }
    }

    func decode(_ json: String) throws -> Settings {
        try ConfigurationFile.decode(Settings.self, from: Data(json.utf8), path: "c.json")
    }

    @Test("a number and an array decode and encode back to what was given")
    func roundTrip() throws {
        #expect(try decode(#"{"shift": 2}"#).shift == .uniform(2))
        #expect(try decode(#"{"shift": [1, -2.5, 3]}"#).shift == .values([1, -2.5, 3]))
        for json in [#"{"shift":2.5}"#, #"{"shift":[1,-2.5,3]}"#] {
            let encoded = String(decoding: try JSONEncoder().encode(try decode(json)), as: UTF8.self)
            #expect(encoded == json)
        }
        #expect(PerCoordinate.uniform(2).values(dimension: 3) == [2, 2, 2])
        #expect(PerCoordinate.values([1, 2]).values(dimension: 2) == [1, 2])
    }

    @Test("the wrong length names both; a value that is not a number is one line at the field")
    func problems() {
        #expect(PerCoordinate.values([1, 2, 3]).countProblem(dimension: 10) == "must be one number or 10 numbers (the dimension), got 3")
        #expect(PerCoordinate.values([1, 2]).countProblem(dimension: 2) == nil)
        #expect(PerCoordinate.uniform(1).countProblem(dimension: 7) == nil)
        #expect(throws: ConfigurationError("c.json", "field 'shift': must be a number or an array of numbers")) { try decode(#"{"shift": "nan"}"#) }
        #expect(throws: ConfigurationError("c.json", "field 'shift[1]': expected a number")) { try decode(#"{"shift": [1, "nan"]}"#) }
    }

    @Test("non-finite values break the finite rule (JSON cannot hold them: values built in code)")
    func finite() {
        #expect(Settings(shift: .uniform(.infinity)).validationError() == "shift must be finite, got inf")
        #expect(Settings(shift: .values([1, .nan, 2])).validationError() == "shift must be finite, got nan at [1]")
        #expect(Settings(shift: .values([1, 2])).validationError() == nil)
    }
}
