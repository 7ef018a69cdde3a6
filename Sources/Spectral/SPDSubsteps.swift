/// How many spectral steps `SpectralSPDSolver` takes toward one evaluation of the curvature.
///
/// One step moves `S = B Diag(d) B^T` part of the way to its target, `T = D + beta2 (Hh - D)` in
/// the eigenbasis, because a rotation from first-order (or Jacobi) angles only approximates T's
/// eigenvectors. Where the curvature costs far more than a step (karcher: one eigendecomposition
/// per target matrix for its logarithms, against about 7k³ of products for a step), the solver
/// can hold `B T B^T` and keep stepping toward it at rate 1, each further step seeing the held
/// target in its own basis, `B'^T (B T B^T) B'` (4k³): that approaches the full step
/// `S <- B T B^T` with the eigendecomposition of T done by rotations. The steps stop after one
/// (other than the first, which is zero from the tied start `S0 = I`) whose rotation's
/// `||K||_2` is at most `rotationTolerance`: near convergence the Jacobi rotations converge
/// quadratically, so the next one would be of order its square.
public struct SPDSubsteps: Sendable, Equatable {
    /// Steps per curvature evaluation, at most (>= 1).
    public var maximum: Int
    /// The loop stops after a step whose `||K||_2` estimate is at most this.
    public var rotationTolerance: Double

    /// Up to `maximum` steps per curvature evaluation, stopping at `rotationTolerance`.
    public init(maximum: Int, rotationTolerance: Double = 0.01) {
        precondition(maximum >= 1 && rotationTolerance >= 0, "SPDSubsteps: maximum \(maximum), rotationTolerance \(rotationTolerance)")
        self.maximum = maximum
        self.rotationTolerance = rotationTolerance
    }

    /// One step per curvature evaluation.
    public static let single = SPDSubsteps(maximum: 1, rotationTolerance: 0)
}
