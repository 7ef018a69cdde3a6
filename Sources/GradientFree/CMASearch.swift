import Foundation
import Linalg
import Spectral

/// CMA-ES with its covariance kept in spectral form, `C = B Diag(d) Bᵀ`, and moved toward
/// CMA's target by the spectral step instead of being decomposed (ALGORITHM.md section 6, "CMA
/// mode"; docs/algorithm.md maps each equation to this code). Parameters: `CMAParameters`.
///
/// One iteration, samples sorted best first (`z_k ~ N(0, I)`):
///
///     y_k = B Diag(d^1/2) z_k,  x_k = m + sigma y_k                     (ask; one GEMM for all k)
///     <y> = Σ_{k<=mu} w_k y_k,  <z> likewise;  m <- m + sigma <y>
///     p_s <- (1 - c_s) p_s + sqrt(c_s (2 - c_s) mu_eff) C^(-1/2) <y>,  C^(-1/2) <y> = B <z>
///     h_s = [ ||p_s|| / sqrt(1 - (1 - c_s)^(2(t+1))) < (1.4 + 2 / (n + 1)) E||N|| ]
///     p_c <- (1 - c_c) p_c + h_s sqrt(c_c (2 - c_c) mu_eff) <y>
///     w°_k = w_k (w_k >= 0), w_k n / ||C^(-1/2) y_k||² = w_k n / ||z_k||² (w_k < 0)
///     C <- (1 - beta) C + c_1 p_c p_cᵀ + c_mu Σ_k w°_k y_k y_kᵀ,
///          beta = c_1 + c_mu Σ w_k - c_1 (1 - h_s) c_c (2 - c_c)
///     sigma <- sigma exp((c_s / d_s) (||p_s|| / E||N|| - 1))
///
/// The covariance step in the eigenbasis: with `U = [p_c, y_1 ... y_lambda]`, `A = Bᵀ U` (its
/// sample columns are `Diag(d^1/2) z_k` exactly, so only `Bᵀ p_c` is a product) and `W` the
/// signed weights `c_1, c_mu w°_k`, the change of `C` is `Bᵀ ΔC B = A W Aᵀ - beta Diag(d)`: the
/// eigenvalues take the log-step `m_i = (A W Aᵀ)_ii / d_i - beta`, the eigenvectors a rotation
/// from the off-diagonal `E` (`SpectralFactor.step`, rate 1):
///
///     E <- (1 - beta) E + offdiag(A W Aᵀ),   |E_ij| capped at sqrt(d_i d_j) (each pair PSD)
///     theta_ij = atan(2 E_ij / (d_j - d_i)) / 2          (Jacobi angle; 0 for d_i = d_j)
///     B <- B exp(s Theta),  s = min(1, 1 / ||Theta||_F)   (rotation clip)
///     phi = s theta_ij, g = d_j - d_i:
///     d_i <- d_i + Σ_j (g sin² phi - E_ij sin 2 phi)      (d_j by the opposite; in m_i)
///     E_ij <- E_ij cos 2 phi - (g / 2) sin 2 phi
///
/// Each pair is settled as its 2 x 2 problem `[[d_i, E_ij], [E_ij, d_j]]`: unclipped, the Jacobi
/// angle diagonalizes it (`E_ij <- 0`, `d_i <- d_i - E_ij tan theta`), clipped, the part it did
/// not turn stays in `E` for the next rotation instead of being dropped. The passes are `O(n²)`,
/// no product (about 8% of an n = 500 run's time early on, where the angles are not small). The
/// gap-damped first-order angle (`SpectralKernels.gapDampedRotation`) with `E` zeroed after each
/// rotation dropped 50-80% of the change early on, when C is near I and the gaps are small.
/// Kept, rotated Rosenbrock reaches 1e-10 on 281 of 300 seeds at n = 20 (272 dropping it;
/// cmaExact 283) with 4% fewer evaluations, the rotated ellipsoid with 2-4% fewer at n = 10-40.
///
/// **Lazy basis.** At large n the rotation of `B` (a retraction, `O(n³)`) dominates an iteration,
/// while CMA's learning rates are about `1/n²`. As pycma decomposes `C` only every few
/// iterations, the basis here rotates every `T` iterations (`AdaptationOptions.basisInterval`):
/// meanwhile the eigenvalues take their log-step every iteration and `E` accumulates in the
/// fixed basis; at the `T`-th the basis rotates as above. With `T = 1` (the default up to n of
/// about 150) every iteration rotates.
///
/// The samples of iteration t are a pure function of (seed, t), so every rank draws the same
/// ones and makes the same step.
public final class CMASearch: SearchDistribution {
    /// The settings the search was made with (`method` `cma` or `cmaExact`).
    public let options: AdaptationOptions
    /// CMA-ES's strategy parameters for this dimension and population.
    public let parameters: CMAParameters
    /// `n`, the number of coordinates.
    public var dimension: Int { parameters.dimension }
    public var population: Int { parameters.population }
    public private(set) var mean: [Double]
    /// `sigma`, the overall step size.
    public private(set) var stepSize: Double
    public private(set) var iteration = 0
    /// None for `cma`: the spectral factor is never decomposed; one per iteration for `cmaExact`.
    public private(set) var eigendecompositions = 0

    private let seed: UInt64
    /// `C = B Diag(d) Bᵀ`, starting at `I` (the start's spread is `sigma`).
    private let covariance: SpectralFactor<Double>
    private(set) var stepSizePath: [Double]
    private(set) var covariancePath: [Double]
    /// `z_k` (population x n), `Diag(d^1/2) z_k` and `y_k` as rows.
    private var samples: Matrix<Double>
    private var scaledSamples: Matrix<Double>
    private var steps: Matrix<Double>
    private var candidates: Matrix<Double>
    private var rootEigenvalues: [Double]
    private var order: [Int]
    /// Whether `ask` ran since the last `tell`.
    private var asked = false
    public private(set) var best = BestSample()
    /// `A`'s columns as rows: `Bᵀ p_c`, then `Diag(d^1/2) z_k` best first; and the same scaled by
    /// their signed weights.
    private var rotatedColumns: Matrix<Double>
    private var weightedColumns: Matrix<Double>
    private var rotatedChange: Matrix<Double>
    /// `E`, the off-diagonal change the basis has not carried yet (its upper triangle; the rest is
    /// not read).
    private var accumulatedChange: Matrix<Double>
    /// The Jacobi rotation of the pairs and its workspaces.
    private var pairRotation: JacobiPairRotation
    /// `T`, the iterations between rotations of the basis (`AdaptationOptions.basisInterval`).
    public let basisInterval: Int
    private var logStep: [Double]
    private lazy var exactSolver = SymmetricEigensolver<Double>(dimension: dimension)
    private var weightedStep: [Double]
    private var weightedSample: [Double]
    private var rotatedPath: [Double]
    private var whitenedStep: [Double]

    /// A search from `start` with `options`' step sizes: `sigma = max sigma0_i`,
    /// `C0 = Diag((sigma0_i / sigma)²)` (the identity for one step size).
    public init(dimension: Int, start: [Double], options: AdaptationOptions, seed: UInt64) throws(SpectralFactorError) {
        precondition(start.count == dimension, "CMASearch: start has \(start.count) coordinates for dimension \(dimension)")
        self.options = options
        self.seed = seed
        parameters = CMAParameters(dimension: dimension, population: options.population(dimension: dimension))
        mean = start
        let spread = options.initialSpread(dimension: dimension)
        stepSize = spread.largest
        let initial = try SpectralFactorState<Double>(
            eigenvectors: .identity(dimension), eigenvalues: spread.perCoordinate.map { ($0 / spread.largest) * ($0 / spread.largest) })
        covariance = SpectralFactor<Double>(state: initial, options: SpectralFactorOptions(
            curvatureLearningRate: 1, gapDamping: options.effectiveGapDamping(for: .cma), rotationClip: 1,
            eigenvalueMap: options.eigenvalueMap, retraction: options.effectiveRetraction(for: .cma)))
        stepSizePath = [Double](repeating: 0, count: dimension)
        covariancePath = stepSizePath
        let lambda = parameters.population
        samples = Matrix(rows: lambda, columns: dimension)
        scaledSamples = samples
        steps = samples
        candidates = samples
        rootEigenvalues = [Double](repeating: 1, count: dimension)
        order = Array(0..<lambda)
        rotatedColumns = Matrix(rows: lambda + 1, columns: dimension)
        weightedColumns = rotatedColumns
        rotatedChange = Matrix(rows: dimension, columns: dimension)
        basisInterval = options.basisInterval(parameters: parameters)
        accumulatedChange = rotatedChange
        pairRotation = JacobiPairRotation(dimension: dimension)
        logStep = stepSizePath
        weightedStep = stepSizePath
        weightedSample = stepSizePath
        rotatedPath = stepSizePath
        whitenedStep = stepSizePath
    }

    /// The candidates of the coming iteration, one per row: `x_k = m + sigma B Diag(d^1/2) z_k`.
    public func ask() -> Matrix<Double> {
        var generator = sampleGenerator(seed: seed, iteration: iteration)
        samples.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] = generator.nextGaussian() }
        }
        let eigenvalues = covariance.eigenvalues
        for index in 0..<dimension { rootEigenvalues[index] = eigenvalues[index].squareRoot() }
        scaledSamples.assign(samples)
        scaledSamples.scaleColumns(by: rootEigenvalues)
        // Rows y_kᵀ = (Diag(d^1/2) z_k)ᵀ Bᵀ.
        BLAS.gemm(scaledSamples, covariance.eigenvectors, transposeB: true, into: &steps)
        let (n, sigma) = (dimension, stepSize)
        steps.withUnsafeBufferPointer { y in
            candidates.withUnsafeMutableBufferPointer { x in
                for row in 0..<population {
                    for column in 0..<n { x[row * n + column] = mean[column] + sigma * y[row * n + column] }
                }
            }
        }
        asked = true
        return candidates
    }

    /// Updates mean, paths, covariance and step size from the values of `ask`'s candidates (in
    /// row order; ties rank by row, so every rank makes the same step).
    public func tell(_ values: [Double]) throws {
        if let problem = toldValuesProblem(count: values.count, population: population, asked: asked) { throw problem }
        best.consider(candidates, values: values)
        rankCandidates(by: values, into: &order)
        let p = parameters
        let n = dimension

        // <y> and <z> over the mu best; the mean.
        for index in 0..<n { (weightedStep[index], weightedSample[index]) = (0, 0) }
        steps.withUnsafeBufferPointer { y in
            samples.withUnsafeBufferPointer { z in
                for rank in 0..<p.parents {
                    let (row, weight) = (order[rank], p.weights[rank])
                    for column in 0..<n {
                        weightedStep[column] += weight * y[row * n + column]
                        weightedSample[column] += weight * z[row * n + column]
                    }
                }
            }
        }
        for index in 0..<n { mean[index] += stepSize * weightedStep[index] }

        // Paths: C^(-1/2) <y> = B <z>.
        BLAS.gemv(covariance.eigenvectors, weightedSample, into: &whitenedStep)
        let stepSizeGain = (p.stepSizeRate * (2 - p.stepSizeRate) * p.effectiveParents).squareRoot()
        var pathNormSquared = 0.0
        for index in 0..<n {
            stepSizePath[index] = (1 - p.stepSizeRate) * stepSizePath[index] + stepSizeGain * whitenedStep[index]
            pathNormSquared += stepSizePath[index] * stepSizePath[index]
        }
        let pathNorm = pathNormSquared.squareRoot()
        let correction = (1 - Foundation.pow(1 - p.stepSizeRate, Double(2 * (iteration + 1)))).squareRoot()
        let stalled = pathNorm / correction >= (1.4 + 2 / Double(n + 1)) * p.expectedNorm
        let pathGain = stalled ? 0 : (p.pathRate * (2 - p.pathRate) * p.effectiveParents).squareRoot()
        for index in 0..<n {
            covariancePath[index] = (1 - p.pathRate) * covariancePath[index] + pathGain * weightedStep[index]
        }

        try updateCovariance(stalled: stalled)
        stepSize *= Foundation.exp((p.stepSizeRate / p.stepSizeDamping) * (pathNorm / p.expectedNorm - 1))
        iteration += 1
        asked = false
    }

    /// `C <- (1 - beta) C + c_1 p_c p_cᵀ + c_mu Σ w°_k y_k y_kᵀ` by the spectral step, in the
    /// current eigenbasis (type comment).
    private func updateCovariance(stalled: Bool) throws {
        let p = parameters
        let n = dimension
        // A's columns as rows: Bᵀ p_c, then Diag(d^1/2) z_k best first (= Bᵀ y_k).
        BLAS.gemv(covariance.eigenvectors, covariancePath, transpose: true, into: &rotatedPath)
        rotatedColumns.withUnsafeMutableBufferPointer { columns in
            weightedColumns.withUnsafeMutableBufferPointer { weighted in
                samples.withUnsafeBufferPointer { z in
                    for column in 0..<n {
                        columns[column] = rotatedPath[column]
                        weighted[column] = p.rankOneRate * rotatedPath[column]
                    }
                    for rank in 0..<population {
                        let row = order[rank]
                        var weight = p.weights[rank]
                        if weight < 0 {
                            var normSquared = 0.0
                            for column in 0..<n { normSquared += z[row * n + column] * z[row * n + column] }
                            weight *= Double(n) / normSquared
                        }
                        let coefficient = p.rankMuRate * weight
                        let target = (rank + 1) * n
                        for column in 0..<n {
                            let value = rootEigenvalues[column] * z[row * n + column]
                            columns[target + column] = value
                            weighted[target + column] = coefficient * value
                        }
                    }
                }
            }
        }
        // A W Aᵀ (n x n), then the eigenvalue log-step.
        BLAS.gemm(weightedColumns, rotatedColumns, transposeA: true, into: &rotatedChange)
        rotatedChange.symmetrize()
        let decay = p.rankOneRate + p.rankMuRate * p.weightSum
            - (stalled ? p.rankOneRate * p.pathRate * (2 - p.pathRate) : 0)
        let eigenvalues = covariance.eigenvalues
        for index in 0..<n { logStep[index] = rotatedChange[index, index] / eigenvalues[index] - decay }
        if options.method == .cmaExact { return try updateExactly(decay: decay) }
        // E <- (1 - beta) E + A W Aᵀ (its diagonal is not read), rotated every T.
        accumulatedChange.scale(by: 1 - decay)
        accumulatedChange.add(rotatedChange)
        guard (iteration + 1) % basisInterval == 0 else {
            try covariance.moveEigenvalues(logStep: logStep)
            return
        }
        let scale = pairRotation.angles(
            of: &accumulatedChange, eigenvalues: eigenvalues, gapDamping: covariance.options.gapDamping,
            rotationClip: covariance.options.rotationClip)
        pairRotation.settle(accumulatedChange, eigenvalues: eigenvalues, scale: scale, logStep: &logStep)
        // A rejected step leaves C and the (capped) E as they were; the factor throws after too many in a row.
        let outcome = try covariance.step(rotatedCurvature: pairRotation.rotationInput, logEigenvalueStep: logStep, rotationScale: 1)
        if outcome.isAccepted { pairRotation.takeResidual(into: &accumulatedChange) }
    }

    /// `cmaExact`: CMA-ES's update without approximation, `Bᵀ C' B = (1 - beta) Diag(d) + A W Aᵀ`
    /// decomposed as `V Diag(lambda) Vᵀ`, then `B <- B V`, `d <- lambda`.
    private func updateExactly(decay: Double) throws {
        let n = dimension
        let eigenvalues = covariance.eigenvalues
        for index in 0..<n { rotatedChange[index, index] += (1 - decay) * eigenvalues[index] }
        rotatedChange.symmetrize()
        var values: [Double] = []
        var vectors = Matrix<Double>(rows: 0, columns: 0)
        do {
            try exactSolver.decompose(rotatedChange, eigenvalues: &values, eigenvectors: &vectors)
        } catch {
            throw AdaptationError("cmaExact: the eigendecomposition failed at iteration \(iteration + 1) (\(error))")
        }
        guard let smallest = values.first, smallest > 0 else {
            throw AdaptationError("cmaExact: the covariance lost positive definiteness at iteration \(iteration + 1)")
        }
        let basis = BLAS.product(covariance.eigenvectors, vectors)
        var state = covariance.state
        state.eigenvectors = basis
        state.eigenvalues = values
        state.updates += 1
        do { try covariance.restore(state) } catch { throw AdaptationError("cmaExact: \(error)") }
        eigendecompositions += 1
    }

    /// The largest and smallest standard deviation of the search distribution along its axes,
    /// `sigma d^1/2` (free).
    public var axisStandardDeviations: (smallest: Double, largest: Double)? {
        let deviations = covariance.eigenvalues.map { stepSize * $0.squareRoot() }
        return (deviations.min()!, deviations.max()!)
    }

    /// `d_max / d_min`.
    public var covarianceCondition: Double? {
        let eigenvalues = covariance.eigenvalues
        return eigenvalues.max()! / eigenvalues.min()!
    }

    public func save(into state: inout SearchState) {
        state.add("cma.mean", mean)
        state.add("cma.stepSize", [stepSize])
        state.add("cma.iteration", integers: [iteration, eigendecompositions])
        state.add("cma.stepSizePath", stepSizePath)
        state.add("cma.covariancePath", covariancePath)
        state.add("cma.covariance", factor: covariance.state)
        state.add("cma.accumulatedChange", accumulatedChange)
        best.save(into: &state, prefix: "cma.best")
    }

    public func restore(from state: SearchState) throws(AdaptationError) {
        let n = dimension
        let savedMean = try state.doubles("cma.mean", count: n)
        let savedStepSize = try state.double("cma.stepSize")
        guard savedStepSize > 0 else { throw AdaptationError("search state 'cma.stepSize' is \(savedStepSize), not positive") }
        let counters = try state.integers("cma.iteration", count: 2)
        let savedStepSizePath = try state.doubles("cma.stepSizePath", count: n)
        let savedCovariancePath = try state.doubles("cma.covariancePath", count: n)
        let savedCovariance = try state.factor("cma.covariance", dimension: n)
        let savedChange = try state.matrix("cma.accumulatedChange", rows: n, columns: n)
        let savedBest = try BestSample.restored(from: state, prefix: "cma.best", dimension: n)
        do { try covariance.restore(savedCovariance) } catch { throw AdaptationError("search state 'cma.covariance': \(error)") }
        (mean, stepSize, iteration, eigendecompositions) = (savedMean, savedStepSize, counters[0], counters[1])
        (stepSizePath, covariancePath, accumulatedChange, best) = (savedStepSizePath, savedCovariancePath, savedChange, savedBest)
        asked = false
    }

    /// `B (Diag(d) + offdiag(E)) Bᵀ`, the covariance CMA-ES would have, of which `B Diag(d) Bᵀ`
    /// (the sampling's) is the part the basis has carried; for tests.
    var carriedCovariance: Matrix<Double> {
        let n = dimension
        var inBasis = accumulatedChange
        inBasis.copyUpperToLower()
        for index in 0..<n { inBasis[index, index] = covariance.eigenvalues[index] }
        let half = BLAS.product(covariance.eigenvectors, inBasis)
        return BLAS.product(half, covariance.eigenvectors, transposeB: true)
    }

    /// `sigma B Diag(d^1/2)`, for replica checks.
    public var samplingTransform: Matrix<Double> {
        var transform = covariance.eigenvectors
        transform.scaleColumns(by: covariance.eigenvalues.map { stepSize * $0.squareRoot() })
        return transform
    }
}
