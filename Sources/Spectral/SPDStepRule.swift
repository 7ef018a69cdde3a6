/// How `SpectralSPDSolver` damps and clips the rotation `K` of each spectral step.
///
/// The factor's own rule (`factor`) damps every pair by a fixed `delta`,
/// `K_ij = beta2 Hh_ij g / (g² + delta d_i d_j)` with `g = d_j - d_i`, and clips `||K||_F <= c`.
/// On SPD problems both make the iteration count grow with k: `||K||_F` sums k² entries, so a
/// Frobenius clip shrinks every step more as k grows (measured: `||K||_F` about 150 at k = 100 and
/// 540 at k = 800 on the first steps, against `||K||_2` of 34 and 45), and a fixed `delta` damps
/// neighbouring eigenvectors once the relative gaps, about `ln(condition) / k`, fall below
/// `sqrt(delta)` (at k = 800 and condition 100 the last phase converged at 0.8 per step instead of
/// the step size's 0.2).
///
/// `scaled` instead damps each pair by its own off-diagonal curvature,
/// `K_ij = beta2 Hh_ij g / (g² + c (beta2 Hh_ij)²)`: the exact first-order step while
/// `beta2 |Hh_ij|` is small against the gap, at most `1 / (2 sqrt(c))` in size when it is not, and
/// undamped near the solution (where `Hh_ij -> 0`) whatever the gaps. Exact ties (`g = 0`, as at
/// `S0 = I`) still give 0. It then clips `||K||_2` (a power-iteration estimate), which is what the
/// truncated retraction's accuracy depends on, to the options' `rotationClip`.
public enum SPDStepRule: Sendable, Equatable {
    /// The factor's update: gap damping `delta` and the Frobenius clip from its options.
    case factor
    /// Pair damping by the off-diagonal curvature with constant `pairDamping` (`c` above, > 0)
    /// and the spectral-norm clip.
    case scaled(pairDamping: Double = 4)
}
