import Foundation

/// CMA-ES's strategy parameters for dimension `n` and population `lambda`, as Hansen's tutorial
/// ("The CMA Evolution Strategy: A Tutorial", 2016, table 1 and section 3.6) and pycma's defaults
/// give them, with active (negative) recombination weights.
///
///     w'_i   = ln((lambda + 1) / 2) - ln i,                     i = 1 ... lambda
///     mu     = floor(lambda / 2);  mu_eff = (Σ_{i<=mu} w'_i)² / Σ_{i<=mu} w'_i²  (mu_eff^- likewise over i > mu)
///     c_c    = (4 + mu_eff / n) / (n + 4 + 2 mu_eff / n)
///     c_s    = (mu_eff + 2) / (n + mu_eff + 5)
///     c_1    = 2 / ((n + 1.3)² + mu_eff)
///     c_mu   = min(1 - c_1, 2 (mu_eff - 2 + 1/mu_eff) / ((n + 2)² + mu_eff))
///     d_s    = 1 + 2 max(0, sqrt((mu_eff - 1) / (n + 1)) - 1) + c_s
///     w_i    = w'_i / Σ_{w'>0} w'_j                                        (w'_i >= 0)
///     w_i    = min(1 + c_1 / c_mu, 1 + 2 mu_eff^- / (mu_eff + 2), (1 - c_1 - c_mu) / (n c_mu)) w'_i / Σ_{w'<0} |w'_j|
///     E||N(0, I)|| = sqrt(n) (1 - 1 / (4n) + 1 / (21 n²))
public struct CMAParameters: Sendable, Equatable {
    /// `n`, the number of coordinates.
    public let dimension: Int
    /// `lambda`, the samples per iteration (at least 2).
    public let population: Int
    /// `mu`, the samples with positive weight.
    public let parents: Int
    /// `w_1 ... w_lambda`, best first: the first `mu` positive and summing to 1, the rest negative.
    public let weights: [Double]
    /// `mu_eff`, the variance-effective number of parents of the positive weights.
    public let effectiveParents: Double
    /// `c_s`, the step-size path's rate.
    public let stepSizeRate: Double
    /// `d_s`, the damping of the step-size update
    /// `sigma <- sigma exp((c_s / d_s) (||p_s|| / E||N(0, I)|| - 1))`.
    public let stepSizeDamping: Double
    /// `c_c`: the covariance path's rate.
    public let pathRate: Double
    /// `c_1`, the rank-one update's learning rate.
    public let rankOneRate: Double
    /// `c_mu`, the rank-mu update's learning rate.
    public let rankMuRate: Double
    /// `E||N(0, I)||`.
    public let expectedNorm: Double

    /// The defaults for dimension `n` and `lambda` samples (`lambda >= 2`).
    public init(dimension n: Int, population lambda: Int) {
        precondition(n >= 1 && lambda >= 2, "CMAParameters: dimension \(n), population \(lambda)")
        dimension = n
        population = lambda
        let dimension = Double(n)
        let raw = (1...lambda).map { Foundation.log(Double(lambda + 1) / 2) - Foundation.log(Double($0)) }
        let mu = lambda / 2
        parents = mu
        let positive = raw.prefix(mu)
        let negative = raw.dropFirst(mu)
        let positiveSum = positive.reduce(0, +)
        let muEff = positiveSum * positiveSum / positive.reduce(0) { $0 + $1 * $1 }
        effectiveParents = muEff
        let c1 = 2 / ((dimension + 1.3) * (dimension + 1.3) + muEff)
        let cMu = Swift.min(1 - c1, 2 * (muEff - 2 + 1 / muEff) / ((dimension + 2) * (dimension + 2) + muEff))
        rankOneRate = c1
        rankMuRate = cMu
        pathRate = (4 + muEff / dimension) / (dimension + 4 + 2 * muEff / dimension)
        stepSizeRate = (muEff + 2) / (dimension + muEff + 5)
        stepSizeDamping = 1 + 2 * Swift.max(0, ((muEff - 1) / (dimension + 1)).squareRoot() - 1) + stepSizeRate
        expectedNorm = dimension.squareRoot() * (1 - 1 / (4 * dimension) + 1 / (21 * dimension * dimension))
        let negativeSum = negative.reduce(0) { $0 + Swift.abs($1) }
        var scaledWeights = positive.map { $0 / positiveSum }
        if negativeSum > 0 {
            let negativeSquares = negative.reduce(0) { $0 + $1 * $1 }
            let muEffNegative = negativeSum * negativeSum / negativeSquares
            let scale = Swift.min(1 + c1 / cMu, 1 + 2 * muEffNegative / (muEff + 2), (1 - c1 - cMu) / (dimension * cMu))
            scaledWeights += negative.map { scale * $0 / negativeSum }
        } else {
            scaledWeights += negative.map { _ in 0 }
        }
        weights = scaledWeights
    }

    /// `Σ w_i` over all samples (1 minus the negative weights' total).
    public var weightSum: Double { weights.reduce(0, +) }
}
