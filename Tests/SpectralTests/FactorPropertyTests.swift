import Linalg
import Spectral
import Testing

@Suite("Spectral factor properties")
struct FactorPropertyTests {
    func randomState(_ k: Int, seed: UInt64) throws -> SpectralFactorState<Double> {
        var generator = SeededGenerator(seed: seed)
        return try SpectralFactorState(
            eigenvectors: Matrix<Double>.randomOrthogonal(k, using: &generator),
            eigenvalues: (0..<k).map { Double.exp(-3 + 6 * Double($0) / Double(k - 1)) })
    }

    @Test("root damping: absolute eps is (S + eps I)^(-1/p); relative eps scales with max(d)",
          arguments: [(1.5, 1e-3), (4.0, 0.5), (0.7, 1e-6)])
    func damping(power: Double, epsilon: Double) throws {
        let state = try randomState(9, seed: 3)
        let factor = SpectralFactor(state: state)
        var generator = SeededGenerator(seed: 4)
        let gradient = Matrix<Double>.gaussian(rows: 9, columns: 2, using: &generator)
        var result = Matrix<Double>(rows: 0, columns: 0)
        factor.applyInverseRoot(power: power, damping: .absolute(epsilon), to: gradient, into: &result)
        let expected = BLAS.product(try referenceInverseRoot(state.matrix, power: power, epsilon: epsilon), gradient)
        #expect(result.relativeDistance(to: expected) < 1e-12)

        let largest = state.eigenvalues.max()!
        var relative = Matrix<Double>(rows: 0, columns: 0)
        factor.applyInverseRoot(power: power, damping: .relative(epsilon / largest), to: gradient, into: &relative)
        #expect(relative.relativeDistance(to: result) < 1e-12)
    }

    @Test("a non-finite curvature is rejected, the state kept and the failure counted")
    func rejectsNonFinite() throws {
        let factor = SpectralFactor(state: try randomState(5, seed: 1), options: .init(maxConsecutiveFailures: 3))
        let before = factor.state
        var bad = Matrix<Double>.identity(5)
        bad[2, 3] = .nan
        bad[3, 2] = .nan
        let outcome = try factor.update(curvature: bad)
        #expect(!outcome.isAccepted)
        #expect(factor.state.eigenvectors == before.eigenvectors)
        #expect(factor.state.eigenvalues == before.eigenvalues)
        #expect(factor.state.failures == 1 && factor.state.consecutiveFailures == 1 && factor.state.updates == 0)
        #expect(try factor.update(curvature: .identity(5)) == .accepted)
        #expect(factor.state.consecutiveFailures == 0 && factor.state.failures == 1 && factor.state.updates == 1)
    }

    @Test("maxConsecutiveFailures rejections in a row are an error naming the cause")
    func tooManyFailures() throws {
        let factor = SpectralFactor<Double>(dimension: 4, options: .init(maxConsecutiveFailures: 3))
        var bad = Matrix<Double>.identity(4)
        bad[0, 0] = .infinity
        _ = try factor.update(curvature: bad)
        _ = try factor.update(curvature: bad)
        #expect(throws: SpectralFactorError.self) { try factor.update(curvature: bad) }
        do {
            try factor.update(curvature: bad)
        } catch {
            #expect("\(error)".contains("consecutive factor updates rejected"))
        }
    }

    @Test("an indefinite curvature that drives an eigenvalue negative under the linear map is rejected; trunc2 keeps it positive")
    func negativeEigenvalue() throws {
        var curvature = Matrix<Double>.identity(3)
        curvature[1, 1] = -200 // m = 0.01 (-200 - 1) < -1: 1 + m < 0
        let linear = SpectralFactor<Double>(dimension: 3, options: .init(eigenvalueMap: .linear))
        #expect(try !linear.update(curvature: curvature).isAccepted)
        let truncated = SpectralFactor<Double>(dimension: 3, options: .init(eigenvalueMap: .trunc2))
        #expect(try truncated.update(curvature: curvature) == .accepted)
        #expect(truncated.eigenvalues.allSatisfy { $0 > 0 })
        // trunc2 clips m at -1: d <- d (1 - 1 + 1/2).
        #expect(abs(truncated.eigenvalues[1] - 0.5) < 1e-15)
    }

    @Test("an update leaving B too far from orthogonal is rejected")
    func orthogonalityBound() throws {
        // A first-order retraction without the polar step, with a large unclipped rotation:
        // B^T B - I = -K², far above the bound.
        let options = SpectralFactorOptions(
            curvatureLearningRate: 0.5, gapDamping: 0, rotationClip: nil,
            retraction: .truncated(order: 1, newtonSchulzSteps: 0), orthogonalityBound: 0.1)
        let factor = SpectralFactor(state: try randomState(6, seed: 8), options: options)
        var generator = SeededGenerator(seed: 2)
        let before = factor.state
        let outcome = try factor.update(curvature: .randomSymmetric(eigenvalues: [9, 7, 5, 3, 2, 1], using: &generator))
        guard case .rejected(let reason) = outcome else {
            Issue.record("expected a rejection")
            return
        }
        #expect(reason.contains("orthogonality error"))
        #expect(factor.state.eigenvectors == before.eigenvectors && factor.state.eigenvalues == before.eigenvalues)
        #expect(factor.state.failures == 1)
    }

    @Test("the Newton-Schulz bound is an upper bound of the measured orthogonality error")
    func newtonSchulzBound() throws {
        var generator = SeededGenerator(seed: 6)
        let factor = SpectralFactor(state: try randomState(12, seed: 7), options: .init(curvatureLearningRate: 0.2))
        for _ in 0..<20 {
            let u = Matrix<Double>.gaussian(rows: 12, columns: 3, using: &generator)
            try factor.update(curvatureFactor: u)
            let bound = factor.orthogonalityError
            let measured = factor.measureHealth().orthogonalityError
            #expect(measured <= bound + 1e-13, "measured \(measured) > bound \(bound)")
        }
    }

    @Test("retractions: Cayley and expm are orthogonal to rounding; trunc(r) approaches expm as r grows")
    func retractions() throws {
        var generator = SeededGenerator(seed: 13)
        let basis = Matrix<Double>.randomOrthogonal(8, using: &generator)
        var rotation = Matrix<Double>.gaussian(rows: 8, columns: 8, using: &generator)
        rotation = 0.5 * (rotation - rotation.transposed)
        rotation.scale(by: 0.3 / rotation.frobeniusNorm)
        let workspace = RetractionWorkspace<Double>()
        var exact = Matrix<Double>(rows: 0, columns: 0)
        let exactError = try Retraction.exact.apply(to: basis, rotation: rotation, workspace: workspace, into: &exact).defect
        #expect(exactError < 1e-14)
        var cayley = Matrix<Double>(rows: 0, columns: 0)
        #expect(try Retraction.cayley.apply(to: basis, rotation: rotation, workspace: workspace, into: &cayley).defect < 1e-14)
        // Cayley agrees with exp to third order: ||K||³/12 ≈ 2e-3.
        #expect(cayley.relativeDistance(to: exact) < 3e-3)
        // Its definition, B' (I - K/2) = B (I + K/2), to rounding (entries ~1, k = 8 terms).
        var minus = -0.5 * rotation
        minus.addToDiagonal(1)
        var plus = 0.5 * rotation
        plus.addToDiagonal(1)
        #expect(BLAS.product(cayley, minus).relativeDistance(to: BLAS.product(basis, plus)) < 1e-13)
        var previous = Double.infinity
        for order in 1...6 {
            var truncated = Matrix<Double>(rows: 0, columns: 0)
            _ = try Retraction.truncated(order: order, newtonSchulzSteps: 0)
                .apply(to: basis, rotation: rotation, workspace: workspace, into: &truncated)
            let distance = truncated.relativeDistance(to: exact)
            #expect(distance < previous)
            previous = distance
        }
        #expect(previous < 1e-7) // ||K||^7 / 7! ≈ 4e-8
    }

    @Test("the matrix exponential: exp(A) exp(-A) = I and it agrees with the eigendecomposition for symmetric A")
    func exponential() throws {
        var generator = SeededGenerator(seed: 14)
        let a = Matrix<Double>.gaussian(rows: 6, columns: 6, scale: 1.5, using: &generator)
        let product = BLAS.product(MatrixFunctions.exponential(a), MatrixFunctions.exponential(-1 * a))
        #expect(product.relativeDistance(to: .identity(6)) < 1e-12)
        var symmetric = a
        symmetric.symmetrize()
        #expect(MatrixFunctions.exponential(symmetric).relativeDistance(to: try MatrixFunctions.symmetricExponential(symmetric)) < 1e-12)
    }

    @Test("retraction names round-trip and bad names are refused")
    func retractionNames() {
        for retraction in [Retraction.standard, .cayley, .exact, .truncated(order: 3, newtonSchulzSteps: 0)] {
            #expect(Retraction(name: retraction.name) == retraction)
        }
        #expect(Retraction(name: "trunc2") == .standard)
        #expect(Retraction(name: "trunc0") == nil)
        #expect(Retraction(name: "trunc2+ns") == nil)
        #expect(Retraction(name: "qr") == nil)
    }

    @Test("stored states are validated")
    func stateValidation() {
        #expect(throws: SpectralFactorError.self) {
            try SpectralFactorState<Double>(eigenvectors: .identity(3), eigenvalues: [1, 2])
        }
        #expect(throws: SpectralFactorError.self) {
            try SpectralFactorState<Double>(eigenvectors: .identity(2), eigenvalues: [1, -2])
        }
        #expect(throws: SpectralFactorError.self) {
            try SpectralFactorState<Double>(eigenvectors: Matrix(rows: 2, columns: 2, elements: [1, .nan, 0, 1]), eigenvalues: [1, 2])
        }
    }
}

@Suite("Eigendecomposition reference, blocking, diagonal fallback")
struct ReferenceAndBlockingTests {
    @Test("EigenFactor: exact EMA and LAPACK roots")
    func eigenFactor() throws {
        var generator = SeededGenerator(seed: 21)
        let reference = EigenFactor<Double>(dimension: 7, initialValue: 1, curvatureLearningRate: 0.1)
        var ema = Matrix<Double>.identity(7)
        for _ in 0..<15 {
            let u = Matrix<Double>.gaussian(rows: 7, columns: 2, using: &generator)
            reference.update(curvatureFactor: u)
            ema = 0.9 * ema + 0.1 * BLAS.product(u, u, transposeB: true)
        }
        #expect(reference.statistic.relativeDistance(to: ema) < 1e-13)
        try reference.recomputeRoot()
        let root = reference.inverseRoot(power: 4, damping: .absolute(0))
        #expect(root.relativeDistance(to: try referenceInverseRoot(ema, power: 4)) < 1e-12)
        let gradient = Matrix<Double>.gaussian(rows: 7, columns: 3, using: &generator)
        var applied = Matrix<Double>(rows: 0, columns: 0)
        reference.applyInverseRoot(power: 4, damping: .absolute(0), to: gradient, into: &applied)
        #expect(applied.relativeDistance(to: BLAS.product(root, gradient)) < 1e-12)
    }

    @Test("split: the fewest nearly equal parts within the limit, covering the range")
    func split() {
        #expect(ParameterPreconditioner<Float>.split(3000, limit: 1024) == [0..<1000, 1000..<2000, 2000..<3000])
        #expect(ParameterPreconditioner<Float>.split(7, limit: 3) == [0..<3, 3..<5, 5..<7])
        #expect(ParameterPreconditioner<Float>.split(1024, limit: 1024) == [0..<1024])
        for length in 1...40 {
            for limit in 1...12 {
                let parts = ParameterPreconditioner<Float>.split(length, limit: limit)
                #expect(parts.first?.lowerBound == 0 && parts.last?.upperBound == length)
                #expect(zip(parts, parts.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                #expect(parts.allSatisfy { $0.count <= limit && $0.count >= 1 })
                #expect(parts.count == (length + limit - 1) / limit)
                #expect(parts.map(\.count).max()! - parts.map(\.count).min()! <= 1)
            }
        }
    }

    @Test("a blocked matrix is preconditioned block by block, each block with its own factors", arguments: [KroneckerMode.shampoo, .kl])
    func blocking(mode: KroneckerMode) throws {
        var generator = SeededGenerator(seed: 31)
        let options = PreconditionerOptions(mode: mode, maxFactorDimension: 3, factor: .init(curvatureLearningRate: 0.1))
        let blocked = ParameterPreconditioner<Double>(shape: [7, 5], options: options)
        guard case .blocks(let blocks) = blocked.structure else {
            Issue.record("expected blocks")
            return
        }
        #expect(blocks.count == 6)
        let independent = blocks.map { KroneckerFactors<Double>(rows: $0.rows.count, columns: $0.columns.count, mode: mode, options: options.factor) }
        func piece(_ g: Matrix<Double>, _ block: ParameterPreconditioner<Double>.Block) -> Matrix<Double> {
            Matrix(rows: block.rows.count, columns: block.columns.count) { g[block.rows.lowerBound + $0, block.columns.lowerBound + $1] }
        }
        for _ in 0..<10 {
            let gradient = Matrix<Double>.gaussian(rows: 7, columns: 5, using: &generator)
            try blocked.update(gradient: gradient)
            for (block, factors) in zip(blocks, independent) { try factors.update(gradient: piece(gradient, block)) }
        }
        let gradient = Matrix<Double>.gaussian(rows: 7, columns: 5, using: &generator)
        var result = Matrix<Double>(rows: 0, columns: 0)
        blocked.preconditionGradient(gradient, into: &result)
        for (block, factors) in zip(blocks, independent) {
            var expected = Matrix<Double>(rows: 0, columns: 0)
            factors.preconditionGradient(piece(gradient, block), power: options.power, damping: options.damping, into: &expected)
            #expect(piece(result, block) == expected)
        }
    }

    @Test("1-D parameters and, if asked, oversized matrices use the diagonal fallback")
    func diagonal() throws {
        let options = PreconditionerOptions(mode: .shampoo, maxFactorDimension: 4, largeDimensions: .diagonal, factor: .init(curvatureLearningRate: 0.5))
        #expect(options.diagonalExponent == 0.5)
        let vector = ParameterPreconditioner<Double>(shape: [3], options: options)
        let large = ParameterPreconditioner<Double>(shape: [5, 2], options: options)
        for preconditioner in [vector, large] {
            guard case .diagonal = preconditioner.structure else {
                Issue.record("expected the diagonal fallback for \(preconditioner.shape)")
                continue
            }
        }
        let gradient = Matrix<Double>(rows: 1, columns: 3, elements: [2, -4, 0])
        try vector.update(gradient: gradient)
        var result = Matrix<Double>(rows: 0, columns: 0)
        vector.preconditionGradient(gradient, into: &result)
        // s = 0.5 * 1 + 0.5 * g²  ->  [2.5, 8.5, 0.5];  P = g / sqrt(s + 1e-12 max s).
        let s = [2.5, 8.5, 0.5]
        let epsilon = 1e-12 * 8.5
        for index in 0..<3 {
            #expect(abs(result.elements[index] - gradient.elements[index] / (s[index] + epsilon).squareRoot()) < 1e-15)
        }
    }
}

@Suite("Spectral kernels")
struct SpectralKernelTests {
    /// The rotation's norm is summed by rows (split over the cores from k = 256); Float64, so
    /// against the norm of the result only the order differs: 1e-13 relative. K must be skew
    /// with the gap-damped entries of its definition.
    @Test("gapDampedRotation returns ||K||_F of the skew K it writes", arguments: [5, 300])
    func gapDampedRotationNorm(k: Int) {
        var generator = SeededGenerator(seed: 12)
        var curvature = Matrix<Double>.random(rows: k, columns: k, using: &generator)
        curvature.symmetrize()
        let eigenvalues = (0..<k).map { 0.5 + Double($0 % 17) }
        var rotation = Matrix<Double>(rows: 0, columns: 0)
        var rowSums: [Double] = []
        let norm = SpectralKernels.gapDampedRotation(
            rotatedCurvature: curvature, eigenvalues: eigenvalues, scale: 0.1, gapDamping: 0.01,
            into: &rotation, rowSums: &rowSums)
        #expect(abs(norm - rotation.frobeniusNorm) <= 1e-13 * rotation.frobeniusNorm)
        for (i, j) in [(0, 1), (1, k - 1), (k / 2, k - 2)] {
            let gap = eigenvalues[j] - eigenvalues[i]
            let denominator = gap * gap + 0.01 * eigenvalues[i] * eigenvalues[j]
            #expect(abs(rotation[i, j] - 0.1 * curvature[i, j] * gap / denominator) <= 1e-15)
            #expect(rotation[j, i] == -rotation[i, j])
        }
    }

    /// Moving the eigenvalues alone applies the eigenvalue map to each and leaves the basis bit for
    /// bit; a step that would make one non-positive is rejected and changes nothing.
    @Test("moveEigenvalues maps the eigenvalues, keeps the basis, and rejects a non-positive result")
    func eigenvaluesAlone() throws {
        var generator = SeededGenerator(seed: 12)
        let factor = SpectralFactor<Double>(dimension: 5, options: .init(curvatureLearningRate: 0.1, eigenvalueMap: .linear))
        for _ in 0..<5 { try factor.update(curvatureFactor: .gaussian(rows: 5, columns: 3, using: &generator)) }
        let before = factor.state
        let step = [0.1, -0.2, 0.0, 0.3, -0.5]
        #expect(try factor.moveEigenvalues(logStep: step) == .accepted)
        #expect(factor.state.eigenvectors == before.eigenvectors)
        for index in 0..<5 { #expect(factor.eigenvalues[index] == before.eigenvalues[index] * (1 + step[index])) }
        let moved = factor.state
        #expect(try factor.moveEigenvalues(logStep: [0, 0, -1.5, 0, 0]) != .accepted)
        #expect(factor.state.eigenvalues == moved.eigenvalues && factor.state.failures == moved.failures + 1)
    }
}
