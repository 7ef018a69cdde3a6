import Linalg
import Spectral
import Testing

/// `A ⊗ B` (standard Kronecker product).
func kronecker(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Matrix<Double> {
    Matrix(rows: a.rows * b.rows, columns: a.columns * b.columns) { row, column in
        a[row / b.rows, column / b.columns] * b[row % b.rows, column % b.columns]
    }
}

/// Column-major `vec(G)`, the ordering under which `(S_R ⊗ S_L) vec(G) = vec(S_L G S_R)`.
func vectorize(_ g: Matrix<Double>) -> Matrix<Double> {
    Matrix(rows: g.count, columns: 1) { index, _ in g[index % g.rows, index / g.rows] }
}

/// Eigenvalues with product 1.
func unitDeterminant(_ values: [Double]) -> [Double] {
    let mean = Double.exp(values.map { Double.log($0) }.reduce(0, +) / Double(values.count))
    return values.map { $0 / mean }
}

@Suite("Kronecker factors")
struct KroneckerTests {
    /// A random kl-mode state as in reference/check3.py: a = 4, b = 3, alpha = 1.7.
    func randomKLState(_ generator: inout SeededGenerator) throws -> (left: SpectralFactorState<Double>, right: SpectralFactorState<Double>) {
        let left = try SpectralFactorState(
            eigenvectors: Matrix<Double>.randomOrthogonal(4, using: &generator),
            eigenvalues: unitDeterminant((0..<4).map { _ in Double.exp(generator.nextGaussian(Double.self)) }))
        let right = try SpectralFactorState(
            eigenvectors: Matrix<Double>.randomOrthogonal(3, using: &generator),
            eigenvalues: unitDeterminant((0..<3).map { _ in Double.exp(generator.nextGaussian(Double.self)) }))
        return (left, right)
    }

    /// (d) One kl step equals the exact Fisher-orthogonal projection of `beta2 (H - S)` onto the
    /// Kronecker tangent space, to O(beta2²) (reference/check3.py: 4.8e-5 at 1e-2, 4.8e-7 at 1e-3).
    @Test("(d) kl mode matches the exact Fisher projection to O(beta2²)")
    func klProjection() throws {
        var generator = SeededGenerator(seed: 2)
        let (leftState, rightState) = try randomKLState(&generator)
        let (a, b) = (4, 3)
        let n = a * b
        let alpha = 1.7
        let lambda = 0.05
        let gradient = Matrix<Double>.gaussian(rows: a, columns: b, using: &generator)

        let s = alpha * kronecker(rightState.matrix, leftState.matrix)
        let g = vectorize(gradient)
        var h = BLAS.product(g, g, transposeB: true)
        h.addToDiagonal(lambda)
        let root = try MatrixFunctions.power(s, 0.5)
        let inverseRoot = try MatrixFunctions.power(s, -0.5)
        let y = BLAS.product(BLAS.product(inverseRoot, h - s), inverseRoot)
        // Partial traces of Y over the left and right indices (vec index i + a j).
        let traceOverLeft = Matrix<Double>(rows: b, columns: b) { j, l in (0..<a).reduce(0) { $0 + y[$1 + a * j, $1 + a * l] } }
        let traceOverRight = Matrix<Double>(rows: a, columns: a) { i, k in (0..<b).reduce(0) { $0 + y[i + a * $1, k + a * $1] } }
        let c = y.trace / Double(n)
        var xRight = (1 / Double(a)) * traceOverLeft
        xRight.addToDiagonal(-c)
        var xLeft = (1 / Double(b)) * traceOverRight
        xLeft.addToDiagonal(-c)
        var projection = kronecker(xRight, .identity(a)) + kronecker(.identity(b), xLeft)
        projection.addToDiagonal(c)
        let direction = BLAS.product(BLAS.product(root, projection), root)

        func error(_ rate: Double) throws -> (error: Double, leftDeterminant: Double, rightDeterminant: Double) {
            let options = SpectralFactorOptions(
                curvatureLearningRate: rate, gapDamping: 0, rotationClip: nil, eigenvalueMap: .exp,
                retraction: .exact, curvatureDamping: lambda)
            let factors = try KroneckerFactors(mode: .kl, left: leftState, right: rightState, scale: alpha, options: options)
            try factors.update(gradient: gradient)
            let reference = s + rate * direction
            return ((factors.kroneckerMatrix - reference).frobeniusNorm / s.frobeniusNorm,
                    factors.left.eigenvalues.reduce(1, *), factors.right.eigenvalues.reduce(1, *))
        }
        let coarse = try error(1e-2)
        let fine = try error(1e-3)
        #expect(coarse.error < 1e-3)
        #expect(coarse.error / fine.error > 70 && coarse.error / fine.error < 130, "ratio \(coarse.error / fine.error)")
        for determinant in [coarse.leftDeterminant, coarse.rightDeterminant, fine.leftDeterminant, fine.rightDeterminant] {
            #expect(abs(determinant - 1) < 1e-12)
        }
    }

    /// (d) The determinant constraint holds over many steps with the default (linear) map, whose
    /// steps do not preserve it by themselves: the renormalisation does.
    @Test("(d) kl mode keeps det S_L = det S_R = 1 to 1e-12 over 500 steps")
    func klDeterminants() throws {
        var generator = SeededGenerator(seed: 9)
        let factors = KroneckerFactors<Double>(rows: 6, columns: 5, mode: .kl, options: .init(curvatureLearningRate: 0.05))
        for _ in 0..<500 {
            try factors.update(gradient: .gaussian(rows: 6, columns: 5, using: &generator))
        }
        #expect(abs(factors.left.eigenvalues.reduce(1, *) - 1) < 1e-12)
        #expect(abs(factors.right.eigenvalues.reduce(1, *) - 1) < 1e-12)
        #expect(factors.left.state.updates == 500 && factors.right.state.updates == 500)
    }

    /// kl mode learns the Kronecker covariance of matrix-normal gradients (reference/check4.py
    /// reaches 0.12-0.14 relative error at beta2 = 0.02, the noise level of an EMA at that rate).
    @Test("kl mode converges to the Kronecker covariance of matrix-normal gradients")
    func klTracksCovariance() throws {
        var generator = SeededGenerator(seed: 3)
        let (a, b) = (12, 8)
        let sigmaLeft = Matrix<Double>.randomSymmetric(eigenvalues: (0..<a).map { Double.exp(-1.5 + 3 * Double($0) / Double(a - 1)) }, using: &generator)
        let sigmaRight = Matrix<Double>.randomSymmetric(eigenvalues: (0..<b).map { Double.exp(-1 + 2 * Double($0) / Double(b - 1)) }, using: &generator)
        let leftRoot = try MatrixFunctions.power(sigmaLeft, 0.5)
        let rightRoot = try MatrixFunctions.power(sigmaRight, 0.5)
        let truth = kronecker(sigmaRight, sigmaLeft)
        let factors = KroneckerFactors<Double>(rows: a, columns: b, mode: .kl, options: .init(curvatureLearningRate: 0.02))
        let initialError = (factors.kroneckerMatrix - truth).frobeniusNorm / truth.frobeniusNorm
        for _ in 0..<4000 {
            let z = Matrix<Double>.gaussian(rows: a, columns: b, using: &generator)
            try factors.update(gradient: BLAS.product(BLAS.product(leftRoot, z), rightRoot))
        }
        let finalError = (factors.kroneckerMatrix - truth).frobeniusNorm / truth.frobeniusNorm
        #expect(finalError < 0.2, "final error \(finalError)")
        #expect(finalError < initialError / 3, "initial \(initialError), final \(finalError)")
    }

    /// The preconditioned gradient is the root of the dense curvature applied to vec(G), for both
    /// modes and any p: `unvec((alpha S_R ⊗ S_L)^(-1/p) vec G)`. The factors are learned with the
    /// Cayley retraction, orthogonal to rounding, so that 1e-10 tests the algebra of the four
    /// GEMMs alone (with trunc(2)+NS, B is orthogonal to about 1e-5 at this large beta2, and the
    /// root of B Diag(d) B^T differs from B Diag(d^(-1/p)) B^T by as much).
    @Test("preconditioning equals the dense Kronecker root", arguments: [(KroneckerMode.kl, 2.0), (.kl, 3.0), (.shampoo, 4.0), (.shampoo, 2.0)])
    func preconditionMatchesDenseRoot(mode: KroneckerMode, power: Double) throws {
        var generator = SeededGenerator(seed: 11)
        let factors = KroneckerFactors<Double>(
            rows: 5, columns: 4, mode: mode, options: .init(curvatureLearningRate: 0.1, retraction: .cayley))
        for _ in 0..<40 { try factors.update(gradient: .gaussian(rows: 5, columns: 4, using: &generator)) }
        let gradient = Matrix<Double>.gaussian(rows: 5, columns: 4, using: &generator)
        var result = Matrix<Double>(rows: 0, columns: 0)
        factors.preconditionGradient(gradient, power: power, damping: .absolute(0), into: &result)
        let denseRoot = try referenceInverseRoot(factors.kroneckerMatrix, power: power)
        var expected: Matrix<Double>
        if mode == .kl {
            expected = BLAS.product(denseRoot, vectorize(gradient))
        } else {
            // Shampoo: S_L^(-1/p) G S_R^(-1/p) = unvec((S_R^(-1/p) ⊗ S_L^(-1/p)) vec G).
            let leftRoot = try referenceInverseRoot(factors.left.state.matrix, power: power)
            let rightRoot = try referenceInverseRoot(factors.right.state.matrix, power: power)
            expected = BLAS.product(kronecker(rightRoot, leftRoot), vectorize(gradient))
        }
        #expect(vectorize(result).relativeDistance(to: expected) < 1e-10)
    }

    @Test("shampoo mode: each side is the factor of G G^T and G^T G")
    func shampooSides() throws {
        var generator = SeededGenerator(seed: 12)
        let options = SpectralFactorOptions(curvatureLearningRate: 0.05)
        let factors = KroneckerFactors<Double>(rows: 6, columns: 3, mode: .shampoo, options: options)
        let left = SpectralFactor<Double>(dimension: 6, options: options)
        let right = SpectralFactor<Double>(dimension: 3, options: options)
        for _ in 0..<20 {
            let gradient = Matrix<Double>.gaussian(rows: 6, columns: 3, using: &generator)
            try factors.update(gradient: gradient)
            try left.update(curvature: BLAS.product(gradient, gradient, transposeB: true))
            try right.update(curvature: BLAS.product(gradient, gradient, transposeA: true))
        }
        #expect(factors.left.state.matrix.relativeDistance(to: left.state.matrix) < 1e-12)
        #expect(factors.right.state.matrix.relativeDistance(to: right.state.matrix) < 1e-12)
        #expect(factors.scale == 1)
    }
}

@Suite("Dense root cache")
struct DenseRootCacheTests {
    @Test("dense roots give the factored result, and follow the factors when they change", arguments: [KroneckerMode.kl, .shampoo])
    func spectral(mode: KroneckerMode) throws {
        var generator = SeededGenerator(seed: 41)
        let factors = KroneckerFactors<Double>(rows: 6, columns: 5, mode: mode, options: .init(curvatureLearningRate: 0.1))
        for _ in 0..<10 { try factors.update(gradient: .gaussian(rows: 6, columns: 5, using: &generator)) }
        let gradient = Matrix<Double>.gaussian(rows: 6, columns: 5, using: &generator)
        var factored = Matrix<Double>(rows: 0, columns: 0)
        factors.preconditionGradient(gradient, power: 3, damping: .relative(1e-6), into: &factored)
        factors.usesDenseRoots = true
        var results: [Matrix<Double>] = []
        for _ in 0..<2 {
            var result = Matrix<Double>(rows: 0, columns: 0)
            factors.preconditionGradient(gradient, power: 3, damping: .relative(1e-6), into: &result)
            results.append(result)
        }
        // The same product in another association: equal to rounding (1e-12); reuse is exact.
        #expect(results[0].relativeDistance(to: factored) < 1e-12)
        #expect(results[1] == results[0])
        // After an update the dense roots are rebuilt from the new factors.
        try factors.update(gradient: .gaussian(rows: 6, columns: 5, using: &generator))
        var dense = Matrix<Double>(rows: 0, columns: 0)
        factors.preconditionGradient(gradient, power: 3, damping: .relative(1e-6), into: &dense)
        factors.usesDenseRoots = false
        var refactored = Matrix<Double>(rows: 0, columns: 0)
        factors.preconditionGradient(gradient, power: 3, damping: .relative(1e-6), into: &refactored)
        #expect(dense.relativeDistance(to: refactored) < 1e-12)
        #expect(dense.relativeDistance(to: factored) > 1e-6)
    }

    @Test("each mix of dense and factored sides gives the factored result", arguments: [KroneckerMode.kl, .shampoo])
    func mixedRoots(mode: KroneckerMode) throws {
        var generator = SeededGenerator(seed: 43)
        let factors = KroneckerFactors<Double>(rows: 7, columns: 4, mode: mode, options: .init(curvatureLearningRate: 0.1))
        for _ in 0..<10 { try factors.update(gradient: .gaussian(rows: 7, columns: 4, using: &generator)) }
        let gradient = Matrix<Double>.gaussian(rows: 7, columns: 4, using: &generator)
        factors.denseRoots = (false, false)
        var factored = Matrix<Double>(rows: 0, columns: 0)
        factors.preconditionGradient(gradient, power: 2, into: &factored)
        for sides in [(true, false), (false, true), (true, true)] {
            factors.denseRoots = sides
            var result = Matrix<Double>(rows: 0, columns: 0)
            factors.preconditionGradient(gradient, power: 2, into: &result)
            // The same product associated differently: equal to rounding.
            #expect(result.relativeDistance(to: factored) < 1e-12, "\(sides)")
        }
    }

    /// A one-sided kl step moves only its side: the other keeps its state bit for bit and both
    /// keep det = 1; with both rates it is the two-sided step.
    @Test("kl mode: a one-sided update moves only its factor and keeps both determinants at 1")
    func oneSidedUpdate() throws {
        var generator = SeededGenerator(seed: 44)
        let factors = KroneckerFactors<Double>(rows: 5, columns: 6, mode: .kl, options: .init(curvatureLearningRate: 0.1))
        for _ in 0..<5 { try factors.update(gradient: .gaussian(rows: 5, columns: 6, using: &generator)) }
        let right = factors.right.state
        let scale = factors.scale
        let outcome = try factors.update(gradient: .gaussian(rows: 5, columns: 6, using: &generator), rates: FactorRates(left: 0.2, right: nil))
        #expect(outcome.left == .accepted && outcome.right == nil)
        #expect(factors.right.state == right)
        #expect(factors.scale != scale)
        let leftState = factors.left.state
        _ = try factors.update(gradient: .gaussian(rows: 5, columns: 6, using: &generator), rates: FactorRates(left: nil, right: 0.2))
        #expect(factors.left.state == leftState)
        #expect(factors.right.state != right)
        for factor in [factors.left, factors.right] {
            #expect(abs(factor.eigenvalues.map { Double.log($0) }.reduce(0, +)) < 1e-12)
        }
        let untouched = (factors.left.state, factors.right.state, factors.scale)
        let none = try factors.update(gradient: .gaussian(rows: 5, columns: 6, using: &generator), rates: FactorRates(left: nil, right: nil))
        #expect(none.left == nil && none.right == nil)
        #expect(factors.left.state == untouched.0 && factors.right.state == untouched.1 && factors.scale == untouched.2)
    }

    /// The schedule steps a block's larger factor at a compounded rate near 1 while alpha moves
    /// at the smaller side's rate. When the curvature jumps far above alpha (here 1e4 times),
    /// reading that alpha made the large-rate side's mean term `rate tau / (n alpha)` about 20,
    /// its linear map sent eigenvalues below zero and the update was rejected. Each side now reads
    /// alpha moved at its own rate: both sides are accepted, with positive eigenvalues.
    @Test("kl mode: sides stepped at different rates stay positive when the curvature jumps")
    func twoRatesAfterJump() throws {
        var generator = SeededGenerator(seed: 45)
        let factors = KroneckerFactors<Double>(rows: 4, columns: 6, mode: .kl, options: .init(curvatureLearningRate: 0.05), initialEigenvalue: 1e-3)
        var gradient = Matrix<Double>.gaussian(rows: 4, columns: 6, using: &generator)
        gradient.scale(by: 3)
        let outcome = try factors.update(gradient: gradient, rates: FactorRates(left: 0.05, right: 0.96))
        #expect(outcome.left == .accepted && outcome.right == .accepted)
        for factor in [factors.left, factors.right] {
            #expect(factor.eigenvalues.allSatisfy { $0 > 0 })
            #expect(abs(factor.eigenvalues.map { Double.log($0) }.reduce(0, +)) < 1e-12)
        }
        #expect(factors.scale > 0 && factors.scale.isFinite)
    }

    @Test("Eigen-Shampoo: cached roots equal the LAPACK roots of the statistics")
    func eigen() throws {
        var generator = SeededGenerator(seed: 42)
        let factors = EigenKroneckerFactors<Double>(rows: 4, columns: 7, curvatureLearningRate: 0.3)
        for _ in 0..<5 { try factors.updateCurvature(gradient: .gaussian(rows: 4, columns: 7, using: &generator), rates: FactorRates(left: 0.3, right: 0.3)) }
        try factors.refreshRoots()
        let gradient = Matrix<Double>.gaussian(rows: 4, columns: 7, using: &generator)
        let expected = BLAS.product(
            BLAS.product(try referenceInverseRoot(factors.left.statistic, power: 4, epsilon: 1e-9), gradient),
            try referenceInverseRoot(factors.right.statistic, power: 4, epsilon: 1e-9))
        for _ in 0..<3 {
            var result = Matrix<Double>(rows: 0, columns: 0)
            factors.preconditionGradient(gradient, power: 4, damping: .absolute(1e-9), into: &result)
            #expect(result.relativeDistance(to: expected) < 1e-11)
        }
    }
}
