import Linalg

/// The elementwise parts of the spectral update, specialised at the call site (`@inlinable`):
/// the gap-damped rotation, step clipping and the eigenvalue maps (ALGORITHM.md section 2).
package enum SpectralKernels {
    /// The gap-damped rotation generator, written into `rotation`:
    ///
    ///     K_ij = scale * Hh_ij * (d_j - d_i) / ((d_j - d_i)^2 + delta * d_i * d_j),   K_ii = 0
    ///
    /// It equals the exact first-order step `scale * Hh_ij / (d_j - d_i)` when gaps are large
    /// against `delta`, and goes smoothly to 0 between equal eigenvalues (where the exact step is
    /// singular). With `delta = 0` an exact tie gives 0. `K` is skew-symmetric because `Hh` is
    /// symmetric; only the upper triangle of `Hh` is read. Returns `||K||_F`.
    @inlinable
    package static func gapDampedRotation<Scalar: LinalgScalar>(
        rotatedCurvature: Matrix<Scalar>, eigenvalues: [Scalar], scale: Scalar, gapDamping: Scalar,
        into rotation: inout Matrix<Scalar>, rowSums: inout [Scalar]
    ) -> Scalar {
        let k = eigenvalues.count
        precondition(rotatedCurvature.rows == k && rotatedCurvature.columns == k,
                     "gapDampedRotation: Hh is \(rotatedCurvature.rows) x \(rotatedCurvature.columns), d has \(k)")
        rotation.resize(rows: k, columns: k)
        if rowSums.count != k { rowSums = [Scalar](repeating: 0, count: k) }
        // The upper triangle row by row (contiguous, vectorisable; rows split over the cores),
        // each row's sum of squares kept for the norm, then the lower as its negation.
        rotatedCurvature.withUnsafeBufferPointer { curvature in
            eigenvalues.withUnsafeBufferPointer { d in
                rotation.withUnsafeMutableBufferPointer { generator in
                    rowSums.withUnsafeMutableBufferPointer { sums in
                        guard let hh = curvature.baseAddress, let out = generator.baseAddress, let d = d.baseAddress,
                              let sums = sums.baseAddress else { return }
                        ParallelLoop.forEachTriangleRow(k) { i in
                            let di = d[i]
                            let row = i * k
                            out[row + i] = 0
                            var j = i + 1
                            while j < k {
                                let gap = d[j] - di
                                let denominator = gap * gap + gapDamping * di * d[j]
                                let value = scale * hh[row + j] * gap / denominator
                                out[row + j] = denominator == 0 ? 0 : value
                                j += 1
                            }
                            sums[i] = VectorKernels.sumOfSquares(out + row + i + 1, count: k - i - 1)
                        }
                    }
                }
            }
        }
        rotation.copyUpperToLower(sign: -1)
        return (2 * rowSums.reduce(0, +)).squareRoot()
    }

    /// The standard log-eigenvalue step of a factor, `m_i = scale * (Hh_ii / d_i - 1)`.
    @inlinable
    package static func logEigenvalueStep<Scalar: LinalgScalar>(
        rotatedCurvature: Matrix<Scalar>, eigenvalues: [Scalar], scale: Scalar, into step: inout [Scalar]
    ) {
        let k = eigenvalues.count
        if step.count != k { step = [Scalar](repeating: 0, count: k) }
        rotatedCurvature.withUnsafeBufferPointer { curvature in
            for i in 0..<k { step[i] = scale * (curvature[i * k + i] / eigenvalues[i] - 1) }
        }
    }

    /// `d_new = d ⊙ map(m)` for the chosen eigenvalue map, into `result`. Returns false if any new
    /// eigenvalue is not finite and positive (the update must then be rejected).
    @inlinable
    package static func mapEigenvalues<Scalar: LinalgScalar>(
        _ eigenvalues: [Scalar], logStep: [Scalar], map: EigenvalueMap, into result: inout [Scalar]
    ) -> Bool {
        let k = eigenvalues.count
        precondition(logStep.count == k, "mapEigenvalues: \(logStep.count) steps for \(k) eigenvalues")
        if result.count != k { result = [Scalar](repeating: 0, count: k) }
        var valid = true
        for i in 0..<k {
            let m = logStep[i]
            let factor: Scalar
            switch map {
            case .linear:
                factor = 1 + m
            case .trunc2:
                let clipped = Swift.min(1, Swift.max(-1, m))
                factor = 1 + clipped + clipped * clipped / 2
            case .exp:
                factor = Scalar.exp(Swift.min(1, Swift.max(-1, m)))
            }
            let value = eigenvalues[i] * factor
            result[i] = value
            if !(value > 0 && value.isFinite) { valid = false }
        }
        return valid
    }
}
