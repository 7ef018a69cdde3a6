import Linalg

/// The `SPDStepRule.scaled` step's preparation: rescales the off-diagonal curvature so that the
/// factor's undamped rotation is the pair-damped one, and measures `||K||_2` for the clip. Keeps
/// its scratch across iterations so a solve does not allocate per step.
struct SPDRotationStepper<Scalar: LinalgScalar> {
    /// `m_i = beta2 (Hh_ii / d_i - 1)` of the last `prepare`.
    private(set) var logStep: [Scalar] = []
    private var rotation = Matrix<Scalar>(rows: 0, columns: 0)
    private var rowSums: [Scalar] = []
    private var vector: [Scalar] = []
    private var image: [Scalar] = []

    /// Power iterations for `||K||_2`: the estimate is a lower bound that is within a few per cent
    /// after about ten steps on these spectra; the clip has the retraction's margin on top.
    static var powerIterations: Int { 12 }

    /// Rewrites the upper triangle of `curvature` (`Hh`, the only part a factor step reads off the
    /// diagonal) to `Hh_ij g² / (g² + c (rate Hh_ij)²)`, so that the factor's undamped rotation
    /// `rate Hh'_ij / g` is the pair-damped one, fills `logStep`, and returns the scale (<= 1) that
    /// brings `||K||_2` within `spectralNormBound` (nil: 1).
    mutating func prepare(
        rotatedCurvature curvature: inout Matrix<Scalar>, eigenvalues: [Scalar], rate: Scalar,
        pairDamping: Scalar, spectralNormBound: Scalar?
    ) -> Scalar {
        let k = eigenvalues.count
        SpectralKernels.logEigenvalueStep(rotatedCurvature: curvature, eigenvalues: eigenvalues, scale: rate, into: &logStep)
        curvature.withUnsafeMutableBufferPointer { hh in
            for i in 0..<k {
                let di = eigenvalues[i]
                for j in (i + 1)..<max(i + 1, k) {
                    let gap = eigenvalues[j] - di
                    let step = rate * hh[i * k + j]
                    let denominator = gap * gap + pairDamping * step * step
                    hh[i * k + j] = denominator == 0 ? 0 : hh[i * k + j] * (gap * gap / denominator)
                }
            }
        }
        guard let bound = spectralNormBound else { return 1 }
        let norm = spectralNorm(curvature: curvature, eigenvalues: eigenvalues, rate: rate)
        return norm > bound ? bound / norm : 1
    }

    /// `||K||_2` of the undamped rotation of `curvature` by power iteration on `K^T K = -K²`.
    private mutating func spectralNorm(curvature: Matrix<Scalar>, eigenvalues: [Scalar], rate: Scalar) -> Scalar {
        let k = eigenvalues.count
        let frobenius = SpectralKernels.gapDampedRotation(
            rotatedCurvature: curvature, eigenvalues: eigenvalues, scale: rate, gapDamping: 0,
            into: &rotation, rowSums: &rowSums)
        guard frobenius > 0 else { return 0 }
        // A fixed, uneven start: reproducible runs, and not orthogonal to a leading singular vector
        // in practice.
        if vector.count != k {
            vector = [Scalar](repeating: 0, count: k)
            image = [Scalar](repeating: 0, count: k)
        }
        for index in 0..<k { vector[index] = Scalar(1) + Scalar(index % 7) / 8 }
        var estimate: Scalar = 0
        for _ in 0..<Self.powerIterations {
            let length = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard length > 0 else { break }
            for index in vector.indices { vector[index] /= length }
            BLAS.gemv(rotation, vector, into: &image)
            BLAS.gemv(rotation, image, into: &vector)
            // |K^T K v| for unit v -> sigma_max².
            estimate = vector.reduce(0) { $0 + $1 * $1 }.squareRoot().squareRoot()
        }
        return Swift.min(estimate, frobenius)
    }
}
