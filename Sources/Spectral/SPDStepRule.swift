/// How `SpectralSPDSolver` damps and clips the rotation `K` of each spectral step.
///
/// A step moves `S = B Diag(d) B^T` towards the target `T = D + beta2 (Hh - D)` seen in the
/// eigenbasis (`Hh` the rotated effective curvature): the eigenvalues by the log-step
/// `m_i = beta2 (Hh_ii / d_i - 1)`, the basis by `B <- retraction(B, K)`. The rules differ in `K`.
///
/// The factor's own rule (`factor`) takes the first-order rotation damped by a fixed `delta`,
/// `K_ij = beta2 Hh_ij g / (g² + delta d_i d_j)` with `g = d_j - d_i`, and clips `||K||_F <= c`.
/// On SPD problems both make the iteration count grow with k: `||K||_F` sums k² entries, so a
/// Frobenius clip shrinks every step more as k grows (measured: `||K||_F` about 150 at k = 100 and
/// 540 at k = 800 on the first steps, against `||K||_2` of 34 and 45), and a fixed `delta` damps
/// neighbouring eigenvectors once the relative gaps, about `ln(condition) / k`, fall below
/// `sqrt(delta)`.
///
/// `scaled` damps each pair by its own off-diagonal curvature,
/// `K_ij = beta2 Hh_ij g / (g² + c (beta2 Hh_ij)²)`, at most `1 / (2 sqrt(c))` in size.
///
/// `jacobi` (the default) turns each pair by the angle that diagonalizes the pair's 2 x 2 block of
/// T, `theta_ij = atan(2 T_ij / (T_jj - T_ii)) / 2` (Jacobi's rotation, `|theta| <= pi/4`), given
/// to the retraction as its Cayley parameter `2 tan(theta / 2)`, so that the Cayley retraction
/// turns an isolated pair by exactly `theta`. It equals the first-order rotation
/// `beta2 Hh_ij / (T_jj - T_ii)` when that is small, measures the gap on the target's diagonal
/// rather than on the eigenvalues that lag it, and needs no damping constant; near the solution
/// it converges quadratically at `beta2 = 0.5` (gaussian, karcher), where the first-order rule
/// converged linearly.
///
/// `scaled` and `jacobi` then clip `||K||_2` (a power-iteration estimate), which is what the
/// retraction's accuracy depends on, to the options' `rotationClip`. Exact ties of the
/// eigenvalues (`g = 0`, as at `S0 = I`) give no rotation under every rule.
public enum SPDStepRule: Sendable, Equatable {
    /// The factor's update: gap damping `delta` and the Frobenius clip from its options.
    case factor
    /// Pair damping by the off-diagonal curvature with constant `pairDamping` (`c` above, > 0)
    /// and the spectral-norm clip.
    case scaled(pairDamping: Double = 4)
    /// Each pair's Jacobi angle on the step's target, and the spectral-norm clip.
    case jacobi
}
