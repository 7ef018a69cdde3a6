import Linalg
import Spectral
import Testing

/// The Newton-Schulz gate (ALGORITHM.md section 2, "gated polar step"): the trunc(2) retraction
/// skips its polar step while a running bound on `||B^T B - I||_F` stays below the tolerance.
@Suite("Newton-Schulz gate")
struct NewtonSchulzGateTests {
    struct GatedRun {
        /// The largest `||B^T B - I||_F` after any update, measured in Float64.
        var largestDefect: Double
        /// The smallest `bound - measured` over the run (negative: the bound was not a bound).
        var smallestMargin: Double
        var updates: Int
        var polarSteps: Int
        var covarianceError: Double
    }

    /// Contract (c)'s stochastic run (Float32, `H = g g^T` from a covariance with a 4-fold tie)
    /// or a wider rank-deficient one, with the gate on, measuring the true defect after every
    /// update in Float64.
    func gatedRun(dimension k: Int, samples: Int, steps: Int, rate: Double, tolerance: Double, seed: UInt64) throws -> GatedRun {
        var generator = SeededGenerator(seed: seed)
        let spectrum = (0..<k).map { Double.exp(-3 + 6 * Double($0) / Double(k - 1)) }
        let basis = Matrix<Double>.randomOrthogonal(k, using: &generator)
        var rootCovariance = basis
        rootCovariance.scaleColumns(by: spectrum.map { $0.squareRoot() })
        let options = SpectralFactorOptions(curvatureLearningRate: rate, newtonSchulzTolerance: tolerance)
        let factor = SpectralFactor<Float>(dimension: k, options: options)
        var ema = Matrix<Double>.identity(k)
        var sample = Matrix<Double>(rows: k, columns: samples)
        var run = GatedRun(largestDefect: 0, smallestMargin: .infinity, updates: 0, polarSteps: 0, covarianceError: 0)
        for _ in 0..<steps {
            let z = Matrix<Double>.gaussian(rows: k, columns: samples, scale: 1 / Double(samples).squareRoot(), using: &generator)
            BLAS.gemm(rootCovariance, z, into: &sample)
            #expect(try factor.update(curvatureFactor: sample.converted(to: Float.self)) == .accepted)
            BLAS.syrk(sample, alpha: rate, beta: 1 - rate, into: &ema)
            let defect = Self.defect(factor.eigenvectors)
            run.largestDefect = max(run.largestDefect, defect)
            run.smallestMargin = min(run.smallestMargin, Double(factor.orthogonalityError) - defect)
        }
        run.updates = factor.state.updates
        run.polarSteps = factor.state.polarSteps
        run.covarianceError = relativeError(factor.state.matrix, ema)
        return run
    }

    /// `||B^T B - I||_F` computed in Float64 (a Float32 product would add its own rounding).
    static func defect(_ basis: Matrix<Float>) -> Double {
        var gram = BLAS.product(basis.converted(to: Double.self), basis.converted(to: Double.self), transposeA: true)
        gram.addToDiagonal(-1)
        return gram.frobeniusNorm
    }

    /// Contract (c) with the gate at its default tolerance: the defect never passes 1e-4, the
    /// running bound is a true bound at every update, the polar step runs on a minority of
    /// updates, and the covariance still tracks the exact EMA (contract c's 0.08).
    @Test("the gate keeps ||B^T B - I|| below its tolerance over a long Float32 run (k = 20, contract c)")
    func contractRun() throws {
        let run = try gatedRun(dimension: 20, samples: 1, steps: 3000, rate: 0.01, tolerance: 1e-4, seed: 5)
        #expect(run.largestDefect < 1e-4, "\(run.largestDefect)")
        #expect(run.smallestMargin >= 0, "bound below the measured defect by \(-run.smallestMargin)")
        // Single-sample curvature makes large rotations (||K||⁴/4 near the tolerance), so the gate
        // fires on most updates here (measured 1885 of 3000), but not on all.
        #expect(run.polarSteps > 0 && run.polarSteps < run.updates, "\(run.polarSteps) of \(run.updates)")
        #expect(run.covarianceError < 0.08, "\(run.covarianceError)")
    }

    /// A wider factor with rank-deficient curvature (k = 96, s = 8), as a weight matrix's factor
    /// sees it, with the larger steps of beta2 = 0.05.
    @Test("the gate holds on a wide rank-deficient factor with large steps")
    func wideRun() throws {
        let run = try gatedRun(dimension: 96, samples: 8, steps: 800, rate: 0.05, tolerance: 1e-4, seed: 11)
        #expect(run.largestDefect < 1e-4, "\(run.largestDefect)")
        #expect(run.smallestMargin >= 0, "bound below the measured defect by \(-run.smallestMargin)")
        #expect(run.polarSteps < run.updates, "\(run.polarSteps) of \(run.updates)")
    }

    /// The rounding term: trunc(2) steps whose truncation error is negligible (||K||_F = 1e-5, so
    /// K⁴/4 ~ 1e-21) grow the Float32 defect by rounding alone, which must stay within
    /// `roundingAllowance` (8 sqrt(k) u) per step at every size.
    @Test("rounding per trunc(2) step stays within the allowance", arguments: [16, 128, 512])
    func roundingGrowth(dimension k: Int) throws {
        var generator = SeededGenerator(seed: UInt64(k))
        var basis = Matrix<Double>.randomOrthogonal(k, using: &generator).converted(to: Float.self)
        let workspace = RetractionWorkspace<Float>()
        var next = Matrix<Float>(rows: 0, columns: 0)
        let allowance = Double(NewtonSchulzGate<Float>.roundingAllowance(dimension: k))
        var previous = Self.defect(basis)
        var largestGrowth = 0.0
        for _ in 0..<40 {
            var rotation = Matrix<Double>.gaussian(rows: k, columns: k, using: &generator)
            rotation = 0.5 * (rotation - rotation.transposed)
            rotation.scale(by: 1e-5 / rotation.frobeniusNorm)
            _ = try Retraction.truncated(order: 2, newtonSchulzSteps: 0)
                .apply(to: basis, rotation: rotation.converted(to: Float.self), workspace: workspace, into: &next)
            swap(&basis, &next)
            let defect = Self.defect(basis)
            largestGrowth = max(largestGrowth, defect - previous)
            previous = defect
        }
        // Measured about sqrt(k) u per step (1/8 of the allowance); the allowance must hold.
        #expect(largestGrowth < allowance, "growth \(largestGrowth) per step, allowance \(allowance)")
    }

    /// Off (nil), every update runs its polar step, as before the gate.
    @Test("without a tolerance the polar step runs on every update")
    func ungated() throws {
        let run = try gatedRun(dimension: 20, samples: 1, steps: 200, rate: 0.01, tolerance: 1e-4, seed: 5)
        var generator = SeededGenerator(seed: 3)
        let factor = SpectralFactor<Float>(dimension: 12, options: SpectralFactorOptions(newtonSchulzTolerance: nil))
        for _ in 0..<50 {
            try factor.update(curvatureFactor: Matrix<Float>.gaussian(rows: 12, columns: 2, using: &generator))
        }
        #expect(factor.state.polarSteps == 50)
        #expect(run.polarSteps < 200)
    }
}
