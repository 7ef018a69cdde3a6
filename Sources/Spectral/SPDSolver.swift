import Linalg
import Support

/// One solver run on an `SPDProblem`: how many iterations, how close, how long.
public struct SPDSolverReport: Sendable {
    /// The solver and its settings, for reports ("spectral (trunc2+ns1, linear)").
    public var method: String
    /// Iterations run, at most the `maxIterations` given: evaluations of the curvature
    /// (spectral) or gradient (Riemannian GD).
    public var iterations: Int
    /// Spectral steps taken (`SPDSubsteps`: several per iteration); equal to `iterations` for
    /// Riemannian GD.
    public var steps: Int
    /// `||S - reference||_F / ||reference||_F` after the last iteration (without a reference,
    /// `RiemannianGradientDescent` reports the whitened gradient's Frobenius norm).
    public var relativeError: Double
    /// `F(S)` of the solution (`SPDProblem.objective`).
    public var objective: Double
    /// Whether `relativeError` reached the tolerance within `maxIterations`.
    public var converged: Bool
    /// Wall-clock time of the iterations, in seconds.
    public var seconds: Double
    /// Of `seconds`, the time spent evaluating the problem: the spectral solver's curvature
    /// (`SPDProblem.rotatedEffectiveCurvatureAndResidual`) or Riemannian GD's whitened gradient
    /// (`SPDProblem.whitenedGradient`): the objective's own work (for karcher, its N matrix
    /// logarithms), about the same per evaluation in both solvers. `seconds - evaluationSeconds`
    /// is the solver's own: spectral steps and stopping tests, or GD's decompositions of S and of
    /// its step with their products.
    public var evaluationSeconds: Double
    /// Symmetric eigendecompositions run (of S, of the step, or of the objective's logarithms).
    public var eigendecompositions: Int
    /// The final `S`, in Float64.
    public var solution: Matrix<Double>
    /// How many times the stopping test formed `||S - reference||_F` densely (S, a k³ product, for
    /// the spectral solver); the spectral solver's eigenbasis bound keeps this at 1 when the
    /// reference is the closed-form solution.
    public var denseDistanceTests: Int
}

/// Solves SPD problems with the spectral factor: `S = B Diag(d) B^T` from `S0 = I`, each
/// iteration one evaluation of the effective curvature and one spectral step toward it, or
/// several toward the same target under `SPDSubsteps` (no decomposition of S).
///
/// With `SPDStepRule.jacobi` (the default) each pair of eigenvectors turns by the Jacobi angle of
/// the step's target instead of the factor's gap-damped first-order rotation, and the step is
/// clipped on `||K||_2` instead of `||K||_F`; see `SPDStepRule` for why this keeps the iteration
/// count from growing with k.
public struct SpectralSPDSolver {
    /// The factor's update rule; its `curvatureLearningRate` is the step size `beta2`. Under
    /// `SPDStepRule.factor` its `gapDamping` and `rotationClip` shape the rotation; under the
    /// other rules its `rotationClip` is the bound on `||K||_2` and its `gapDamping` is not used.
    public var options: SpectralFactorOptions
    /// How the rotation is damped and clipped.
    public var stepRule: SPDStepRule
    /// How many steps to take toward each curvature evaluation's target.
    public var substeps: SPDSubsteps

    /// A solver whose factor follows `options`, its rotations shaped by `stepRule`, taking
    /// `substeps` toward each curvature evaluation (more than one only with the `scaled` and
    /// `jacobi` rules).
    public init(options: SpectralFactorOptions, stepRule: SPDStepRule = .jacobi, substeps: SPDSubsteps = .single) {
        precondition(stepRule != .factor || substeps.maximum == 1, "SpectralSPDSolver: the factor rule takes one step per curvature")
        self.options = options
        self.stepRule = stepRule
        self.substeps = substeps
    }

    /// Iterates until `||S - reference||_F / ||reference||_F <= tolerance` or `maxIterations`.
    ///
    /// When `reference` is the problem's closed-form solution A, no iteration forms S: the loop
    /// stops on `distanceBound` of `||D - B^T A B||_F` (`B^T A B` is what the curvature is built
    /// from), and S is formed once the bound passes, for the dense test that decides and for the
    /// report. Otherwise (karcher) each iteration tests `||S - reference||_F` densely.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func solve<Scalar: LinalgScalar>(
        _ problem: SPDProblem<Scalar>, reference: Matrix<Scalar>, tolerance: Double, maxIterations: Int
    ) throws -> SPDSolverReport {
        let clock = ContinuousClock()
        let start = clock.now
        var factorOptions = options
        if stepRule != .factor {
            factorOptions.gapDamping = 0
            factorOptions.rotationClip = nil
        }
        let factor = SpectralFactor<Scalar>(dimension: problem.dimension, options: factorOptions)
        var stepper = SPDRotationStepper<Scalar>()
        // The eigenbasis residual measures the distance to the problem's own solution only.
        let residualReference = problem.closedFormSolution.flatMap { $0 == reference ? Double(reference.frobeniusNorm) : nil }
        var iterations = 0
        var steps = 0
        var decompositions = 0
        var denseTests = 0
        var evaluationTime = Duration.zero
        /// The dense S of the current state and its relative distance to `reference`.
        func dense() -> (solution: Matrix<Scalar>, error: Double) {
            let solution = factor.state.matrix
            return (solution, Double(solution.relativeDistance(to: reference)))
        }
        /// The last dense test, while no step has moved the state since.
        var lastTest: (solution: Matrix<Scalar>, error: Double)?
        func converged() -> Bool {
            denseTests += 1
            lastTest = dense()
            return lastTest!.error <= tolerance
        }
        while true {
            // Without the residual, the dense test comes first: a converged solve ends without
            // another curvature (for karcher, N eigendecompositions).
            if residualReference == nil && (iterations >= maxIterations || converged()) { break }
            let evaluationStart = clock.now
            var (curvature, residual) = try problem.rotatedEffectiveCurvatureAndResidual(
                eigenvectors: factor.eigenvectors, eigenvalues: factor.eigenvalues)
            evaluationTime += evaluationStart.duration(to: clock.now)
            if problem.kind == .karcher { decompositions += problem.targets.count }
            // The bound filters; the dense distance, formed once it passes, decides.
            if let residual, let norm = residualReference {
                let bound = Self.distanceBound(residual: Double(residual), state: factor.state)
                if iterations >= maxIterations || (bound <= tolerance * norm && converged()) { break }
            }
            switch stepRule {
            case .factor:
                try factor.update(rotatedCurvature: curvature)
                steps += 1
            case .scaled, .jacobi:
                steps += try stepTowardTarget(of: &curvature, factor: factor, stepper: &stepper, startsSolve: steps == 0)
            }
            iterations += 1
            lastTest = nil
        }
        let (solution, error) = lastTest ?? dense()
        let elapsed = start.duration(to: clock.now)
        let rule = switch stepRule {
        case .factor: ""
        case .scaled: ", scaled"
        case .jacobi: ", jacobi"
        }
        return SPDSolverReport(
            method: "spectral (\(options.retraction.name), \(options.eigenvalueMap.rawValue)\(rule))",
            iterations: iterations, steps: steps, relativeError: error, objective: Double(try problem.objective(solution)),
            converged: error <= tolerance, seconds: elapsed.inSeconds, evaluationSeconds: evaluationTime.inSeconds,
            eigendecompositions: decompositions, solution: solution.converted(to: Double.self), denseDistanceTests: denseTests)
    }
}

extension SpectralSPDSolver {
    /// The `scaled` or `jacobi` step toward `T = D + beta2 (Hh - D)` (`curvature` is `Hh`), then,
    /// under `substeps`, further steps at rate 1 toward the held `B T B^T`; returns the steps taken.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func stepTowardTarget<Scalar: LinalgScalar>(
        of curvature: inout Matrix<Scalar>, factor: SpectralFactor<Scalar>, stepper: inout SPDRotationStepper<Scalar>,
        startsSolve: Bool
    ) throws -> Int {
        let rate = Scalar(options.curvatureLearningRate)
        let clip = options.rotationClip.map { Scalar($0) }
        let holds = substeps.maximum > 1
        if holds {
            stepper.holdTarget(rotatedCurvature: curvature, eigenvalues: factor.eigenvalues, rate: rate, basis: factor.eigenvectors)
        }
        var scale = stepper.prepare(
            rotatedCurvature: &curvature, eigenvalues: factor.eigenvalues, rate: rate, rule: stepRule,
            spectralNormBound: clip, measuresNorm: holds)
        try factor.step(rotatedCurvature: curvature, logEigenvalueStep: stepper.logStep, rotationScale: rate * scale)
        var steps = 1
        // The solve's first step turns nothing (tied eigenvalues at S0 = I): no stop on it.
        var exempt = startsSolve
        while steps < substeps.maximum && (exempt || Double(stepper.rotationNorm) > substeps.rotationTolerance) {
            stepper.heldTarget(in: factor.eigenvectors, into: &curvature)
            scale = stepper.prepare(
                rotatedCurvature: &curvature, eigenvalues: factor.eigenvalues, rate: 1, rule: stepRule,
                spectralNormBound: clip, measuresNorm: true)
            try factor.step(rotatedCurvature: curvature, logEigenvalueStep: stepper.logStep, rotationScale: scale)
            steps += 1
            exempt = false
        }
        return steps
    }

    /// An upper bound on `||S - A||_F` from `residual = ||D - B^T A B||_F` and the factor's bound
    /// `e >= ||B^T B - I||_F`: `B^T (S - A) B = (D - Ah) + (G D G - D)` with `G = B^T B`, so
    /// `(1 - e) ||S - A||_F <= residual + (2e + e²) max d`. Infinite when `e >= 1`.
    public static func distanceBound<Scalar: LinalgScalar>(residual: Double, state: SpectralFactorState<Scalar>) -> Double {
        let defect = Double(state.defectBound)
        guard defect < 1 else { return .infinity }
        let largest = Double(state.eigenvalues.max() ?? 0)
        return (residual + (2 * defect + defect * defect) * largest) / (1 - defect)
    }
}

/// Affine-invariant Riemannian gradient descent, the eigendecomposition-based baseline:
/// `S <- S^(1/2) exp(-eta W) S^(1/2)` with `W = S^(1/2) grad F(S) S^(1/2)`; each iteration
/// decomposes S (for its roots) and W (for the exponential).
public struct RiemannianGradientDescent {
    /// `eta` of `S <- S^(1/2) exp(-eta W) S^(1/2)`.
    public var stepSize: Double

    /// A solver taking steps of size `eta = stepSize`.
    public init(stepSize: Double) {
        self.stepSize = stepSize
    }

    /// Iterates from `S0 = I` until `||S - reference||_F / ||reference||_F <= tolerance` (any
    /// reference; nil: until the whitened gradient norm is below `tolerance`) or `maxIterations`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func solve<Scalar: LinalgScalar>(
        _ problem: SPDProblem<Scalar>, reference: Matrix<Scalar>?, tolerance: Double, maxIterations: Int
    ) throws -> SPDSolverReport {
        let clock = ContinuousClock()
        let start = clock.now
        var s = Matrix<Scalar>.identity(problem.dimension)
        var iterations = 0
        var decompositions = 0
        var evaluationTime = Duration.zero
        func distance(_ gradientNorm: Double) -> Double {
            reference.map { Double(s.relativeDistance(to: $0)) } ?? gradientNorm
        }
        var error = reference.map { Double(s.relativeDistance(to: $0)) } ?? .infinity
        while error > tolerance && iterations < maxIterations {
            let (values, vectors) = try SymmetricEigensolver.decompose(s)
            let root = MatrixFunctions.reconstruct(eigenvectors: vectors, eigenvalues: values.map { $0.squareRoot() })
            let inverseRoot = MatrixFunctions.reconstruct(eigenvectors: vectors, eigenvalues: values.map { 1 / $0.squareRoot() })
            let evaluationStart = clock.now
            let gradient = try problem.whitenedGradient(s: s, root: root, inverseRoot: inverseRoot)
            evaluationTime += evaluationStart.duration(to: clock.now)
            let exponential = try MatrixFunctions.symmetricExponential(Scalar(-stepSize) * gradient)
            s = BLAS.product(BLAS.product(root, exponential), root)
            s.symmetrize()
            decompositions += 2 + (problem.kind == .karcher ? problem.targets.count : 0)
            iterations += 1
            error = distance(Double(gradient.frobeniusNorm))
        }
        let elapsed = start.duration(to: clock.now)
        return SPDSolverReport(
            method: "Riemannian GD (eigendecompositions)", iterations: iterations, steps: iterations, relativeError: error,
            objective: Double(try problem.objective(s)), converged: error <= tolerance,
            seconds: elapsed.inSeconds, evaluationSeconds: evaluationTime.inSeconds, eigendecompositions: decompositions,
            solution: s.converted(to: Double.self),
            denseDistanceTests: reference == nil ? 0 : iterations + 1)
    }

    /// The Karcher mean by the classic fixed point (`eta = 1`), run until the whitened gradient
    /// norm is below `tolerance`: the reference the solvers of a Karcher problem are measured against.
    public static func karcherMean<Scalar: LinalgScalar>(
        _ problem: SPDProblem<Scalar>, tolerance: Double = 1e-13, maxIterations: Int = 500
    ) throws -> Matrix<Scalar> {
        precondition(problem.kind == .karcher, "karcherMean: a \(problem.kind) problem")
        return try RiemannianGradientDescent(stepSize: 1)
            .solve(problem, reference: nil, tolerance: tolerance, maxIterations: maxIterations)
            .solution.converted(to: Scalar.self)
    }
}
