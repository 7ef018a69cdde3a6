import Linalg

/// The `SPDStepRule.scaled` and `.jacobi` steps' preparation: rewrites the off-diagonal curvature
/// so that the factor's undamped rotation `rate Hh'_ij / g` is the rule's `K_ij`, and measures
/// `||K||_2` for the clip. Keeps its scratch across iterations so a solve does not allocate per step.
struct SPDRotationStepper<Scalar: LinalgScalar> {
    /// `m_i = beta2 (Hh_ii / d_i - 1)` of the last `prepare`.
    private(set) var logStep: [Scalar] = []
    /// `||K||_2` (estimate, before the clip) of the last `prepare` that measured it.
    private(set) var rotationNorm: Scalar = 0
    /// `B T B^T` of the last `holdTarget`, ready for congruences.
    private var heldTarget: SymmetricCongruence<Scalar>?
    private var target = Matrix<Scalar>(rows: 0, columns: 0)
    private var product = Matrix<Scalar>(rows: 0, columns: 0)
    private var rotation = Matrix<Scalar>(rows: 0, columns: 0)
    private var rowSums: [Scalar] = []
    private var vector: [Scalar] = []
    private var image: [Scalar] = []

    /// Power iterations for `||K||_2` from a cold start: the estimate is a lower bound that is
    /// within a few per cent after about ten steps on these spectra; the clip has the
    /// retraction's margin on top.
    static var powerIterations: Int { 12 }
    /// Power iterations from the previous call's vector.
    static var warmPowerIterations: Int { 4 }

    /// Rewrites the upper triangle of `curvature` (`Hh`, the only part a factor step reads off the
    /// diagonal) to `K_ij g / rate` with `K_ij` the rule's rotation (`SPDStepRule`; `.factor` is not
    /// prepared here), fills `logStep`, and returns the scale (<= 1) that brings `||K||_2` within
    /// `spectralNormBound` (nil: 1). `rotationNorm` is measured when there is a bound or
    /// `measuresNorm`.
    mutating func prepare(
        rotatedCurvature curvature: inout Matrix<Scalar>, eigenvalues: [Scalar], rate: Scalar,
        rule: SPDStepRule, spectralNormBound: Scalar?, measuresNorm: Bool = false
    ) -> Scalar {
        let k = eigenvalues.count
        SpectralKernels.logEigenvalueStep(rotatedCurvature: curvature, eigenvalues: eigenvalues, scale: rate, into: &logStep)
        curvature.withUnsafeMutableBufferPointer { hh in
            switch rule {
            case .factor:
                preconditionFailure("SPDRotationStepper: the factor rule takes the factor's own update")
            case .scaled(let pairDamping):
                let damping = Scalar(pairDamping)
                for i in 0..<k {
                    let di = eigenvalues[i]
                    for j in (i + 1)..<max(i + 1, k) {
                        let gap = eigenvalues[j] - di
                        let step = rate * hh[i * k + j]
                        let denominator = gap * gap + damping * step * step
                        hh[i * k + j] = denominator == 0 ? 0 : hh[i * k + j] * (gap * gap / denominator)
                    }
                }
            case .jacobi:
                // T_ii = d_i + rate (Hh_ii - d_i), T_ij = rate Hh_ij. With x = 2 T_ij / (T_jj - T_ii):
                // tan(theta) = x / (1 + sqrt(1 + x²)) and the Cayley parameter 2 tan(theta / 2) =
                // 2 t / (1 + sqrt(1 + t²)); written over the gap so that x = +-inf (equal T_ii) is
                // the limit |t| = 1.
                for i in 0..<k {
                    let di = eigenvalues[i]
                    let targetI = di + rate * (hh[i * k + i] - di)
                    for j in (i + 1)..<max(i + 1, k) {
                        let gap = eigenvalues[j] - di
                        let offDiagonal = 2 * rate * hh[i * k + j]
                        let targetGap = eigenvalues[j] + rate * (hh[j * k + j] - eigenvalues[j]) - targetI
                        // t = x / (1 + sqrt(1 + x²)) = 2 T_ij / (gapT + sign(gapT) sqrt(gapT² + (2 T_ij)²)).
                        let radius = (targetGap * targetGap + offDiagonal * offDiagonal).squareRoot()
                        let denominator = targetGap + (targetGap < 0 ? -radius : radius)
                        let tangent = denominator == 0 ? 0 : offDiagonal / denominator
                        let parameter = 2 * tangent / (1 + (1 + tangent * tangent).squareRoot())
                        hh[i * k + j] = gap == 0 ? 0 : parameter * gap / rate
                    }
                }
            }
        }
        guard spectralNormBound != nil || measuresNorm else { return 1 }
        rotationNorm = spectralNorm(curvature: curvature, eigenvalues: eigenvalues, rate: rate)
        guard let bound = spectralNormBound else { return 1 }
        return rotationNorm > bound ? bound / rotationNorm : 1
    }

    /// Holds the step's target `B T B^T`, `T = D + rate (Hh - D)` (`curvature` is `Hh`, before
    /// `prepare` rewrites it), for `heldTarget(in:into:)` (`SPDSubsteps`).
    mutating func holdTarget(rotatedCurvature curvature: Matrix<Scalar>, eigenvalues: [Scalar], rate: Scalar, basis: Matrix<Scalar>) {
        let k = eigenvalues.count
        target.assign(curvature)
        target.scale(by: rate)
        for i in 0..<k { target[i, i] += (1 - rate) * eigenvalues[i] }
        product.resize(rows: k, columns: k)
        BLAS.symm(basis, symmetric: target, into: &product)
        BLAS.gemm(product, basis, transposeB: true, into: &target)
        target.symmetrize()
        heldTarget = SymmetricCongruence(target)
    }

    /// The held target seen in `basis`, `basis^T (B T B^T) basis`, into `curvature`: the
    /// curvature whose step at rate 1 has that target (`SymmetricCongruence`: 2k³ when the target
    /// is positive definite, else 4k³).
    mutating func heldTarget(in basis: Matrix<Scalar>, into curvature: inout Matrix<Scalar>) {
        guard let heldTarget else { preconditionFailure("SPDRotationStepper: heldTarget(in:) before holdTarget") }
        heldTarget.apply(to: basis, scratch: &product, into: &curvature)
    }

    /// `||K||_2` of the undamped rotation of `curvature` by power iteration on `K^T K = -K²`.
    private mutating func spectralNorm(curvature: Matrix<Scalar>, eigenvalues: [Scalar], rate: Scalar) -> Scalar {
        let k = eigenvalues.count
        let frobenius = SpectralKernels.gapDampedRotation(
            rotatedCurvature: curvature, eigenvalues: eigenvalues, scale: rate, gapDamping: 0,
            into: &rotation, rowSums: &rowSums)
        guard frobenius > 0 else { return 0 }
        // Warm: the last call's vector, as consecutive steps' rotations share their leading
        // directions; cold (first call, or a zero or non-finite vector): a fixed, uneven start,
        // not orthogonal to a leading singular vector in practice. Both reproducible.
        var iterations = Self.warmPowerIterations
        let warmLength = vector.reduce(0) { $0 + $1 * $1 }
        if vector.count != k || !(warmLength > 0 && warmLength.isFinite) {
            vector = (0..<k).map { Scalar(1) + Scalar($0 % 7) / 8 }
            image = [Scalar](repeating: 0, count: k)
            iterations = Self.powerIterations
        }
        var estimate: Scalar = 0
        for _ in 0..<iterations {
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
