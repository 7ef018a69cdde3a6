import Foundation
import Linalg
import Spectral

/// A Gaussian search distribution `N(mu, S^-1)` adapted from ranked samples only: natural
/// evolution strategies (xNES) with the covariance step done either spectrally or exactly.
///
/// One iteration, with `N` samples and the xNES utilities `u` (sorted best first, summing to 0):
///
///     z_k ~ N(0, I);  w_k = mu + T z_k      T = B Diag(d^-1/2) (spectral) or A (xnes)
///     mu <- mu + eta_mu T Σ u_k z_k
///     M = Σ u_k (z_k z_kᵀ - I)
///     spectral: m_i = -eta_S M_ii, Hh = D^1/2 (I - M) D^1/2, gap-damped K from Hh with eta_S;
///               d <- d ⊙ exp(m), B <- retraction(K)                  (a precision step)
///     xnes:     A <- A expm(eta_S M / 2)                              (a covariance step)
///
/// The samples of iteration t are a pure function of (seed, t), so every rank draws the same
/// ones; `ask` gives the candidates, the caller evaluates them (on any rank), and `tell` takes
/// all their values.
public final class CovarianceAdaptation: SearchDistribution {
    /// The settings the search was made with (`method` `spectral` or `xnes`).
    public let options: AdaptationOptions
    /// `n`, the number of coordinates.
    public let dimension: Int
    /// `N`, the candidates per iteration.
    public let population: Int
    /// `eta_S`, the covariance learning rate in use (`options.covarianceRate(dimension:)`).
    public let covarianceRate: Double
    /// The mean of the search distribution.
    public private(set) var mean: [Double]
    /// Iterations completed.
    public private(set) var iteration = 0
    /// Eigendecompositions performed (xnes: one per iteration; spectral: none).
    public private(set) var eigendecompositions = 0

    private let seed: UInt64
    /// The spectral precision factor (spectral) or nil.
    private let factor: SpectralFactor<Double>?
    /// `T`, samples = mu + T z: `B Diag(d^-1/2)` (refreshed each iteration) or xNES's `A`.
    private var transform: Matrix<Double>
    private let utilities: [Double]
    private var samples: Matrix<Double>
    private var candidates: Matrix<Double>
    private var sortedSamples: Matrix<Double>
    private var weightedSamples: Matrix<Double>
    private var naturalGradient: Matrix<Double>
    private var rotatedCurvature: Matrix<Double>
    private var logStep: [Double]
    private var order: [Int]
    /// Whether `ask` ran since the last `tell`.
    private var asked = false
    public private(set) var best = BestSample()
    /// `Σ u_k z_k` and `T Σ u_k z_k` (n x 1).
    private var meanStep: Matrix<Double>
    private var meanMove: Matrix<Double>
    private var axisScales: [Double]

    /// A search from `start` (`dimension` coordinates) with `options` (method `spectral` or
    /// `xnes`), `S0 = Diag(1 / sigma0_i²)`, and samples drawn from `seed`; throws when the step
    /// sizes give no valid precision factor.
    public init(dimension: Int, start: [Double], options: AdaptationOptions, seed: UInt64) throws(SpectralFactorError) {
        precondition(start.count == dimension, "CovarianceAdaptation: start has \(start.count) coordinates for dimension \(dimension)")
        self.options = options
        self.dimension = dimension
        self.seed = seed
        population = options.population(dimension: dimension)
        covarianceRate = options.covarianceRate(dimension: dimension)
        mean = start
        utilities = Self.utilities(count: population)
        // S0 = Diag(1 / sigma0_i²), A0 = Diag(sigma0_i).
        let sigma = options.initialSpread(dimension: dimension).perCoordinate
        switch options.method {
        case .spectral:
            let factorOptions = SpectralFactorOptions(
                curvatureLearningRate: covarianceRate, gapDamping: options.effectiveGapDamping(for: options.method), rotationClip: 1,
                eigenvalueMap: options.eigenvalueMap, retraction: options.effectiveRetraction(for: options.method))
            let initial = try SpectralFactorState<Double>(eigenvectors: .identity(dimension), eigenvalues: sigma.map { 1 / ($0 * $0) })
            factor = SpectralFactor<Double>(state: initial, options: factorOptions)
        case .xnes:
            factor = nil
        case .cma, .cmaExact:
            preconditionFailure("CovarianceAdaptation: CMA mode is CMASearch")
        }
        transform = Matrix<Double>(rows: dimension, columns: dimension) { row, column in row == column ? sigma[row] : 0 }
        samples = Matrix<Double>(rows: population, columns: dimension)
        candidates = Matrix<Double>(rows: population, columns: dimension)
        sortedSamples = Matrix<Double>(rows: population, columns: dimension)
        weightedSamples = Matrix<Double>(rows: population, columns: dimension)
        naturalGradient = Matrix<Double>(rows: dimension, columns: dimension)
        rotatedCurvature = Matrix<Double>(rows: dimension, columns: dimension)
        logStep = [Double](repeating: 0, count: dimension)
        order = Array(0..<population)
        meanStep = Matrix<Double>(rows: dimension, columns: 1)
        meanMove = Matrix<Double>(rows: dimension, columns: 1)
        axisScales = [Double](repeating: 0, count: dimension)
    }

    /// xNES utilities for `count` ranked samples, best first:
    /// `u_r = max(0, ln(N/2 + 1) - ln r) / Σ max(...) - 1/N`, summing to 0.
    public static func utilities(count: Int) -> [Double] {
        let raw = (1...count).map { Swift.max(0, Foundation.log(Double(count) / 2 + 1) - Foundation.log(Double($0))) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total - 1 / Double(count) }
    }

    /// The candidates of the coming iteration, one per row (`population x dimension`).
    public func ask() -> Matrix<Double> {
        var generator = sampleGenerator(seed: seed, iteration: iteration)
        samples.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] = generator.nextGaussian() }
        }
        BLAS.gemm(samples, transform, transposeB: true, into: &candidates)
        candidates.withUnsafeMutableBufferPointer { values in
            for row in 0..<population {
                for column in 0..<dimension { values[row * dimension + column] += mean[column] }
            }
        }
        asked = true
        return candidates
    }

    /// Updates the distribution from the values of the candidates `ask` gave (in row order).
    /// Ties rank by row, so every rank that holds the same values makes the same step.
    public func tell(_ values: [Double]) throws {
        if let problem = toldValuesProblem(count: values.count, population: population, asked: asked) { throw problem }
        best.consider(candidates, values: values)
        rankCandidates(by: values, into: &order)
        // Sorted samples, and the same scaled by their utilities.
        sortedSamples.withUnsafeMutableBufferPointer { sorted in
            weightedSamples.withUnsafeMutableBufferPointer { weighted in
                samples.withUnsafeBufferPointer { source in
                    for (rank, row) in order.enumerated() {
                        for column in 0..<dimension {
                            let value = source[row * dimension + column]
                            sorted[rank * dimension + column] = value
                            weighted[rank * dimension + column] = utilities[rank] * value
                        }
                    }
                }
            }
        }
        // Σ u_k z_k, and M = Σ u_k z_k z_kᵀ (Σ u_k = 0, so the -I term vanishes).
        meanStep.withUnsafeMutableBufferPointer { step in
            weightedSamples.withUnsafeBufferPointer { weighted in
                for column in 0..<dimension { step[column] = 0 }
                for rank in 0..<population {
                    for column in 0..<dimension { step[column] += weighted[rank * dimension + column] }
                }
            }
        }
        BLAS.gemm(weightedSamples, sortedSamples, transposeA: true, into: &naturalGradient)
        naturalGradient.symmetrize()
        BLAS.gemm(transform, meanStep, into: &meanMove)
        for index in 0..<dimension { mean[index] += options.meanLearningRate * meanMove[index, 0] }

        switch options.method {
        case .spectral:
            let factor = factor!
            let eigenvalues = factor.eigenvalues
            for row in 0..<dimension {
                logStep[row] = -covarianceRate * naturalGradient[row, row]
                for column in 0..<dimension {
                    let identity: Double = row == column ? 1 : 0
                    rotatedCurvature[row, column] = (eigenvalues[row] * eigenvalues[column]).squareRoot()
                        * (identity - naturalGradient[row, column])
                }
            }
            try factor.step(rotatedCurvature: rotatedCurvature, logEigenvalueStep: logStep, rotationScale: covarianceRate)
            refreshSpectralTransform()
        case .cma, .cmaExact:
            preconditionFailure("CovarianceAdaptation: CMA mode is CMASearch")
        case .xnes:
            var scaled = naturalGradient
            scaled.scale(by: 0.5 * covarianceRate)
            do {
                let exponential = try MatrixFunctions.symmetricExponential(scaled)
                transform = BLAS.product(transform, exponential)
            } catch {
                throw AdaptationError("xNES: the eigendecomposition failed at iteration \(iteration + 1) (\(error))")
            }
            eigendecompositions += 1
        }
        iteration += 1
        asked = false
    }

    /// `T = B Diag(d^-1/2)`.
    private func refreshSpectralTransform() {
        guard let factor else { return }
        transform.assign(factor.eigenvectors)
        let eigenvalues = factor.eigenvalues
        for index in 0..<dimension { axisScales[index] = 1 / eigenvalues[index].squareRoot() }
        transform.scaleColumns(by: axisScales)
    }

    /// The largest and smallest standard deviation of the search distribution along its axes
    /// (spectral: `d^-1/2`, free; xnes: nil, it would need a decomposition).
    public var axisStandardDeviations: (smallest: Double, largest: Double)? {
        guard let factor else { return nil }
        let deviations = factor.eigenvalues.map { 1 / $0.squareRoot() }
        return (deviations.min()!, deviations.max()!)
    }

    /// 1: the scale is in the covariance.
    public var stepSize: Double { 1 }

    /// The condition of `C = S^-1` (spectral: `d_max / d_min`, free; xnes: nil).
    public var covarianceCondition: Double? {
        guard let factor else { return nil }
        return factor.eigenvalues.max()! / factor.eigenvalues.min()!
    }

    public func save(into state: inout SearchState) {
        let prefix = options.method.rawValue
        state.add(prefix + ".mean", mean)
        state.add(prefix + ".iteration", integers: [iteration, eigendecompositions])
        state.add(prefix + ".transform", transform)
        if let factor { state.add(prefix + ".precision", factor: factor.state) }
        best.save(into: &state, prefix: prefix + ".best")
    }

    public func restore(from state: SearchState) throws(AdaptationError) {
        let prefix = options.method.rawValue
        let savedMean = try state.doubles(prefix + ".mean", count: dimension)
        let counters = try state.integers(prefix + ".iteration", count: 2)
        let savedTransform = try state.matrix(prefix + ".transform", rows: dimension, columns: dimension)
        let savedBest = try BestSample.restored(from: state, prefix: prefix + ".best", dimension: dimension)
        if let factor {
            let saved = try state.factor(prefix + ".precision", dimension: dimension)
            do { try factor.restore(saved) } catch { throw AdaptationError("search state '\(prefix).precision': \(error)") }
        }
        (mean, iteration, eigendecompositions, transform, best) = (savedMean, counters[0], counters[1], savedTransform, savedBest)
        asked = false
    }

    /// The sampling transform `T` (samples are `mean + T z`), for replica checks.
    public var samplingTransform: Matrix<Double> { transform }
}
