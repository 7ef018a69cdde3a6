import Cluster
import Foundation
import DistributedSearch
@testable import GradientFree
import Linalg
import Testing

@Suite("CMA mode")
struct CMASearchTests {
    /// The strategy parameters at n = 10, lambda = 10, computed by hand from the tutorial's formulas
    /// (Hansen 2016, table 1 and eq. 53): a wrong constant or a swapped rate fails at 1e-4.
    @Test("the strategy parameters are the tutorial's at n = 10")
    func parameters() {
        let p = CMAParameters(dimension: 10, population: 10)
        #expect(p.parents == 5)
        #expect(abs(p.effectiveParents - 3.1672) < 1e-4)
        #expect(abs(p.rankOneRate - 0.015284) < 1e-6)
        #expect(abs(p.rankMuRate - 0.020152) < 1e-5)
        #expect(abs(p.pathRate - 0.29499) < 1e-5)
        #expect(abs(p.stepSizeRate - 0.28443) < 1e-5)
        #expect(abs(p.stepSizeDamping - 1.28443) < 1e-5)
        #expect(abs(p.expectedNorm - 3.0847) < 1e-4)
        // Positive weights sum to 1, decreasing; the negative ones to -(1 + c_1 / c_mu) here (the
        // smallest of the three bounds), so the decay c_1 + c_mu Σ w is 0.
        let positive = p.weights.prefix(5)
        #expect(abs(positive.reduce(0, +) - 1) < 1e-12)
        #expect(zip(p.weights, p.weights.dropFirst()).allSatisfy { $0 > $1 })
        #expect(p.weights.dropFirst(5).allSatisfy { $0 < 0 })
        #expect(abs(p.weights.dropFirst(5).reduce(0, +) + 1 + p.rankOneRate / p.rankMuRate) < 1e-12)
        #expect(abs(p.rankOneRate + p.rankMuRate * p.weightSum) < 1e-12)
    }

    /// Evaluations to f(mean) < 1e-10, or nil.
    func evaluations(_ kind: Objective.Kind, dimension: Int, condition: Double = 1e6, seed: UInt64, start: Double) throws -> Int? {
        let objective = Objective(kind: kind, dimension: dimension, condition: condition, rotationSeed: seed)
        let search = try CMASearch(dimension: dimension, start: [Double](repeating: start, count: dimension), options: AdaptationOptions(), seed: seed)
        let outcome = try AdaptationRun.run(
            search, objective: objective, stop: .init(target: 1e-10, maxEvaluations: 40_000), communicator: SingleProcessCommunicator())
        #expect(search.eigendecompositions == 0)
        return outcome.reachedTarget ? outcome.evaluations : nil
    }

    /// CMA-ES needs about 4,200 evaluations on the rotated condition-1e6 ellipsoid at n = 10 and
    /// 5,400 on Rosenbrock (pycma, ALGORITHM.md section 6); exact xNES 2.5-4x more. The bound of
    /// 1.5x pycma's count catches a lost path, rate or active weight (each costs far more than
    /// that) while leaving room for seed-to-seed spread: the median of five seeds decides. 10-D
    /// Rosenbrock has a local minimum (f = 3.99) that CMA-ES reaches on some seeds, so there four
    /// of five must succeed; the ellipsoid has none, so all five.
    @Test("reaches 1e-10 on the rotated ellipsoid and Rosenbrock at n = 10 within 1.5x pycma's evaluations",
          arguments: [(Objective.Kind.ellipsoid, 4_200.0, 3.0, 5), (.rosenbrock, 5_400.0, 0.0, 4)])
    func convergence(kind: Objective.Kind, pycma: Double, start: Double, successes: Int) throws {
        var counts: [Int] = []
        for seed: UInt64 in 1...5 {
            if let count = try evaluations(kind, dimension: 10, seed: seed, start: start) { counts.append(count) }
        }
        print("CMA mode \(kind.rawValue) n = 10: \(counts) evaluations")
        #expect(counts.count >= successes, "\(counts)")
        let median = counts.sorted()[counts.count / 2]
        #expect(Double(median) <= 1.5 * pycma, "\(counts)")
    }

    /// The distribution learns the ellipsoid's shape: along its axes the spread ends up
    /// sqrt(1e4) = 100 apart, learned without a decomposition.
    @Test("the covariance learns the ellipsoid's shape, and the step size shrinks to the target")
    func learnsShape() throws {
        let objective = Objective(kind: .ellipsoid, dimension: 10, condition: 1e4, rotationSeed: 0)
        let search = try CMASearch(dimension: 10, start: [Double](repeating: 3, count: 10), options: AdaptationOptions(), seed: 2)
        let outcome = try AdaptationRun.run(search, objective: objective, stop: .init(target: 1e-10), communicator: SingleProcessCommunicator())
        #expect(outcome.reachedTarget)
        let spread = try #require(search.axisStandardDeviations)
        let ratio = spread.largest / spread.smallest
        #expect(ratio > 30 && ratio < 300, "axis ratio \(ratio)")
        #expect(search.stepSize < 1e-3, "sigma \(search.stepSize)")
    }

    /// A lazy basis (rotated every 4 iterations, the rotation accumulated in the fixed basis) still
    /// learns the rotated ellipsoid: within 1.5x the evaluations of rotating every iteration, on
    /// the same seeds (measured 1.07x). Rotating by the last iteration's change alone instead of
    /// the accumulated one needed 1.8x and fails it.
    @Test("a lazy basis learns the rotated ellipsoid as the every-iteration basis does")
    func lazyBasis() throws {
        func evaluations(interval: Int, seed: UInt64) throws -> Int {
            let objective = Objective(kind: .ellipsoid, dimension: 12, condition: 1e6, rotationSeed: seed)
            let search = try CMASearch(
                dimension: 12, start: [Double](repeating: 3, count: 12), options: AdaptationOptions(basisUpdateInterval: interval), seed: seed)
            #expect(search.basisInterval == interval)
            let outcome = try AdaptationRun.run(
                search, objective: objective, stop: .init(target: 1e-10, maxEvaluations: 60_000), communicator: SingleProcessCommunicator())
            #expect(outcome.reachedTarget)
            return outcome.evaluations
        }
        let every = try (1...3).map { try evaluations(interval: 1, seed: UInt64($0)) }.reduce(0, +)
        let lazy = try (1...3).map { try evaluations(interval: 4, seed: UInt64($0)) }.reduce(0, +)
        print("CMA mode lazy basis: \(lazy) evaluations against \(every) over 3 seeds")
        #expect(Double(lazy) <= 1.5 * Double(every), "\(lazy) against \(every)")
        // The default interval follows pycma's lazy gap: 1 at small n, a few at n = 1000.
        #expect(AdaptationOptions().basisInterval(parameters: CMAParameters(dimension: 10, population: 10)) == 1)
        #expect(AdaptationOptions().basisInterval(parameters: CMAParameters(dimension: 1000, population: 24)) >= 2)
    }

    /// IPOP: on the rotated 10-D Rastrigin a default CMA search ends in a local minimum; restarts
    /// with doubled populations reach 1e-8 (10 of 10 seeds with up to 9 restarts when measured).
    @Test("IPOP restarts solve the rotated 10-D Rastrigin where one search does not")
    func ipopRastrigin() throws {
        let objective = Objective(kind: .rastrigin, dimension: 10, rotationSeed: 10)
        let start = [Double](repeating: 3, count: 10)
        let single = try AdaptationRun.runWithRestarts(
            options: AdaptationOptions(), dimension: 10, start: start, seed: 10, restarts: 0, populationGrowth: 2,
            objective: objective, stop: .init(target: 1e-8, maxEvaluations: 20_000), communicator: SingleProcessCommunicator())
        #expect(!single.reachedTarget && single.restarts == 0 && single.stopReason == .evaluations)
        let restarted = try AdaptationRun.runWithRestarts(
            options: AdaptationOptions(), dimension: 10, start: start, seed: 10, restarts: 9, populationGrowth: 2,
            objective: objective, stop: .init(target: 1e-8, maxEvaluations: 1_000_000), communicator: SingleProcessCommunicator())
        #expect(restarted.reachedTarget, "\(restarted.stopReason) after \(restarted.evaluations) evaluations")
        #expect(restarted.restarts >= 1 && restarted.population == 10 << restarted.restarts)
        #expect(restarted.finalValue < 1e-8)
    }

    /// A function that never changes stagnates after pycma's window of `10 + ceil(30 n / lambda)`
    /// iterations: each restart doubles the population, the last search runs to the budget, and the
    /// counts add up over the searches.
    @Test("a stagnated search restarts with a doubled population; the last one runs to the budget")
    func restartMechanics() throws {
        final class Flat: ObjectiveFunction {
            let dimension = 4
            func value(_ point: UnsafeBufferPointer<Double>) -> Double { 1 }
        }
        let outcome = try AdaptationRun.runWithRestarts(
            options: AdaptationOptions(), dimension: 4, start: [0, 0, 0, 0], seed: 1, restarts: 2, populationGrowth: 2,
            objective: Flat(), stop: .init(target: 0, maxEvaluations: 5_000), communicator: SingleProcessCommunicator())
        // lambda = 8, 16, 32: windows of 10 + 15, 10 + 8 iterations, then the budget.
        let first = 8 * (10 + 15)
        let second = 16 * (10 + 8)
        #expect(outcome.restarts == 2 && outcome.population == 32 && outcome.stopReason == .evaluations)
        #expect(outcome.evaluations == first + second + 32 * ((5_000 - first - second) / 32))
    }

    /// Per-coordinate initial step sizes shape the first samples: every method's sampling transform
    /// starts as `Diag(sigma0_i)` (CMA: `sigma = max sigma0_i` times `Diag(sigma0_i / sigma)`).
    @Test("per-coordinate initial step sizes start the sampling transform at Diag(sigma0_i)", arguments: [AdaptationMethod.cma, .spectral, .xnes])
    func perCoordinateStepSize(method: AdaptationMethod) throws {
        let steps = [2.0, 0.5, 1e-3, 1]
        let search = try makeSearch(
            dimension: 4, start: [0, 0, 0, 0], options: AdaptationOptions(method: method, initialStepSize: .values(steps)), seed: 1)
        let transform = search.samplingTransform
        for row in 0..<4 {
            for column in 0..<4 {
                let expected = row == column ? steps[row] : 0
                #expect(abs(transform[row, column] - expected) <= 1e-15 * steps[row], "\(method) [\(row), \(column)]")
            }
        }
        if let spread = search.axisStandardDeviations {
            #expect(abs(spread.largest - 2) < 1e-15 && abs(spread.smallest - 1e-3) < 1e-18)
        }
    }

    /// The textbook CMA-ES covariance update (Hansen 2016, eqs. 47 and 49 with active weights),
    /// computed densely from the candidates, their values and the paths:
    /// `C' = (1 - c_1 - c_mu Σ w + (1 - h_s) c_1 c_c (2 - c_c)) C + c_1 p_c p_cᵀ + c_mu Σ w°_k y_k y_kᵀ`.
    /// `cmaExact` must reproduce it to rounding. `cma`'s spectral step only moves toward it; its C
    /// here is the carried one, `B (Diag(d) + offdiag(E)) Bᵀ`, since the change the rotation has
    /// not turned into the basis yet stays in `E` (the sampling's `B Diag(d) Bᵀ` alone jumps by it
    /// when a later rotation carries it). The 2 x 2 settling of each pair leaves out the pairs'
    /// cross terms and, when the rotation is clipped, part of the angles (measured: 55-60% of the
    /// change left at n = 6 and 30, where the sampling C alone was 50-80% with E dropped).
    @Test("cmaExact's covariance after an iteration is the textbook CMA-ES update; cma's moves toward it",
          arguments: [(AdaptationMethod.cmaExact, 6), (.cma, 6), (.cma, 30)])
    func textbookUpdate(method: AdaptationMethod, n: Int) throws {
        let objective = Objective(kind: .ellipsoid, dimension: n, condition: 100, rotationSeed: 3)
        let search = try CMASearch(dimension: n, start: [Double](repeating: 2, count: n), options: AdaptationOptions(method: method), seed: 5)
        func values(_ points: Matrix<Double>) -> [Double] {
            (0..<points.rows).map { row in Array(points.elements[(row * n)..<((row + 1) * n)]).withUnsafeBufferPointer { objective.value($0) } }
        }
        // A few iterations first, so that C is no longer a multiple of I and the paths are not 0.
        for _ in 0..<(n / 2) { let points = search.ask(); try search.tell(values(points)) }
        func covariance() -> Matrix<Double> {
            if method == .cma { return search.carriedCovariance }
            var product = BLAS.product(search.samplingTransform, search.samplingTransform, transposeB: true)
            product.scale(by: 1 / (search.stepSize * search.stepSize))
            return product
        }
        let before = covariance()
        let (mean, sigma, iteration) = (search.mean, search.stepSize, search.iteration)
        let points = search.ask()
        let pointValues = values(points)
        try search.tell(pointValues)
        let after = covariance()
        // The expected update from the outside: y_k = (x_k - m) / sigma, ranked by value.
        let p = search.parameters
        let order = pointValues.indices.sorted { pointValues[$0] < pointValues[$1] || (pointValues[$0] == pointValues[$1] && $0 < $1) }
        let decomposition = try SymmetricEigensolver<Double>.decompose(before)
        var expected = before
        let pathNorm = search.stepSizePath.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let correction = (1 - Foundation.pow(1 - p.stepSizeRate, Double(2 * (iteration + 1)))).squareRoot()
        let stalled = pathNorm / correction >= (1.4 + 2 / Double(n + 1)) * p.expectedNorm
        let decay = p.rankOneRate + p.rankMuRate * p.weightSum - (stalled ? p.rankOneRate * p.pathRate * (2 - p.pathRate) : 0)
        expected.scale(by: 1 - decay)
        for i in 0..<n {
            for j in 0..<n { expected[i, j] += p.rankOneRate * search.covariancePath[i] * search.covariancePath[j] }
        }
        for (rank, row) in order.enumerated() {
            let y = (0..<n).map { (points[row, $0] - mean[$0]) / sigma }
            var weight = p.weights[rank]
            if weight < 0 {
                // ||C^(-1/2) y||² = Σ (v_iᵀ y)² / lambda_i.
                var whitened = 0.0
                for k in 0..<n {
                    let projection = (0..<n).reduce(0.0) { $0 + decomposition.eigenvectors[$1, k] * y[$1] }
                    whitened += projection * projection / decomposition.eigenvalues[k]
                }
                weight *= Double(n) / whitened
            }
            for i in 0..<n {
                for j in 0..<n { expected[i, j] += p.rankMuRate * weight * y[i] * y[j] }
            }
        }
        var change = expected
        change.add(before, scaledBy: -1)
        var error = after
        error.add(expected, scaledBy: -1)
        let (changeSize, errorSize) = (change.frobeniusNorm, error.frobeniusNorm)
        print("\(method) n = \(n): ||C|| = \(before.frobeniusNorm), ||C' - C|| = \(changeSize), ||C' - textbook|| = \(errorSize)")
        // Exact: rounding of a few products of numbers near 1 (1e-12 of the change). Spectral:
        // nearer the textbook C than before the step (a lost or doubled term moves it away).
        #expect(errorSize <= (method == .cmaExact ? 1e-12 : 1) * changeSize)
        #expect(changeSize > 1e-3 * before.frobeniusNorm)
    }

    @Test("the same seed gives the same run, bit for bit; 2 and 3 ranks take the same steps as 1")
    func determinism() throws {
        func trace(seed: UInt64, ranks: Int) throws -> [Double] {
            let traces = try ThreadCommunicator.run(ranks: ranks) { communicator in
                let objective = Objective(kind: .rosenbrock, dimension: 6)
                let search = try CMASearch(dimension: 6, start: [Double](repeating: 0, count: 6), options: AdaptationOptions(), seed: seed)
                var values: [Double] = []
                _ = try AdaptationRun.run(
                    search, objective: objective, stop: .init(target: 0, maxEvaluations: 60 * search.population),
                    communicator: communicator, logEvery: 10) { _, _, value, _, _ in values.append(value) }
                return values + search.mean + [search.stepSize]
            }
            #expect(traces.allSatisfy { $0 == traces[0] })
            return traces[0]
        }
        let first = try trace(seed: 4, ranks: 1)
        #expect(first.count == 6 + 6 + 1)
        #expect(try trace(seed: 4, ranks: 1) == first)
        #expect(try trace(seed: 4, ranks: 2) == first)
        #expect(try trace(seed: 4, ranks: 3) == first)
        #expect(try trace(seed: 5, ranks: 1) != first)
    }
}
