import Linalg
import Spectral
import Testing

/// A Kronecker block fed a gradient as its thin factors `dY^T X` must do what it does fed the
/// formed `G`: the same products, associated differently.
@Suite("Factored gradients")
struct FactoredGradientTests {
    /// `dY` (r x a) and `X` (r x b) with Gaussian entries.
    func randomFactors(rank: Int, rows: Int, columns: Int, _ generator: inout SeededGenerator) -> FactoredGradient<Double> {
        FactoredGradient(
            outputGradient: .gaussian(rows: rank, columns: rows, using: &generator),
            input: .gaussian(rows: rank, columns: columns, using: &generator))
    }

    /// kl-mode updates from the factors follow the updates from `G` over many steps, both sides and
    /// one side at a time (Float64: the two associations differ by rounding, 1e-13 relative per
    /// product, and the trajectories by a few orders more after 40 steps of retraction).
    @Test("kl updates from dY^T X equal updates from G", arguments: [(3, 9, 14), (20, 9, 14), (5, 16, 6)])
    func klUpdates(rank: Int, rows: Int, columns: Int) throws {
        var generator = SeededGenerator(seed: UInt64(rank * 100 + rows))
        let options = SpectralFactorOptions(curvatureLearningRate: 0.1)
        let throughG = KroneckerFactors<Double>(rows: rows, columns: columns, mode: .kl, options: options, initialEigenvalue: 0.01)
        let throughFactors = KroneckerFactors<Double>(rows: rows, columns: columns, mode: .kl, options: options, initialEigenvalue: 0.01)
        for step in 0..<40 {
            let factored = randomFactors(rank: rank, rows: rows, columns: columns, &generator)
            let rates = FactorRates(left: 0.1, right: step % 4 == 0 ? 0.3 : nil)
            let expected = try throughG.update(gradient: factored.matrix, rates: rates)
            let outcome = try throughFactors.update(gradient: factored.matrix, factored: factored, rates: rates)
            #expect(outcome.left == expected.left && outcome.right == expected.right)
        }
        #expect(throughFactors.left.state.matrix.relativeDistance(to: throughG.left.state.matrix) < 1e-9)
        #expect(throughFactors.right.state.matrix.relativeDistance(to: throughG.right.state.matrix) < 1e-9)
        #expect(abs(throughFactors.scale / throughG.scale - 1) < 1e-9)
        #expect(throughFactors.left.state.updates == 40 && throughFactors.right.state.updates == 10)
    }

    /// Preconditioning through the factors, each side dense or factored, in both modes, equals
    /// preconditioning `G` (one reassociation: 1e-12 relative in Float64).
    @Test("preconditioning through dY^T X equals preconditioning G", arguments: [KroneckerMode.kl, .shampoo])
    func preconditioning(mode: KroneckerMode) throws {
        var generator = SeededGenerator(seed: 9)
        let factors = KroneckerFactors<Double>(rows: 8, columns: 11, mode: mode, options: .init(curvatureLearningRate: 0.1))
        for _ in 0..<10 { try factors.update(gradient: .gaussian(rows: 8, columns: 11, using: &generator)) }
        let factored = randomFactors(rank: 4, rows: 8, columns: 11, &generator)
        for sides in [(false, false), (true, false), (false, true), (true, true)] {
            factors.denseRoots = sides
            var expected = Matrix<Double>(rows: 0, columns: 0)
            factors.preconditionGradient(factored.matrix, power: 2, into: &expected)
            var result = Matrix<Double>(rows: 0, columns: 0)
            factors.preconditionGradient(factored.matrix, factored: factored, power: 2, into: &result)
            #expect(result.relativeDistance(to: expected) < 1e-12, "\(sides)")
        }
    }

    /// The rule compares `r (a² + a b + b²)` with `a b (a + b)`: for a square block, below `2a/3`.
    @Test("the factors are used where they cost fewer multiply-adds")
    func costRule() {
        #expect(FactoredGradient<Float>.costsLess(rank: 170, rows: 256, columns: 256))
        #expect(!FactoredGradient<Float>.costsLess(rank: 171, rows: 256, columns: 256))
        // The MLP's 256 x 784 layer at batch 128 (the break-even is 236), not its 10 x 256 head.
        #expect(FactoredGradient<Float>.costsLess(rank: 128, rows: 256, columns: 784))
        #expect(!FactoredGradient<Float>.costsLess(rank: 237, rows: 256, columns: 784))
        #expect(!FactoredGradient<Float>.costsLess(rank: 128, rows: 10, columns: 256))
    }
}
