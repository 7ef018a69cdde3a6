import Linalg

/// The scratch memory of one block shape's Kronecker updates and preconditioning, shared by the
/// blocks of that shape an optimizer updates one at a time (nothing in it carries from one call to
/// the next).
public final class KroneckerWorkspace<Scalar: LinalgScalar> {
    /// `A = B_L^T G B_R`, and `P` on its way.
    var rotatedGradient = Matrix<Scalar>(rows: 0, columns: 0)
    var weighted = Matrix<Scalar>(rows: 0, columns: 0)
    var intermediate = Matrix<Scalar>(rows: 0, columns: 0)
    var leftCurvature = Matrix<Scalar>(rows: 0, columns: 0)
    var rightCurvature = Matrix<Scalar>(rows: 0, columns: 0)
    /// `dY` and `X` times a root or the eigenvectors (a factored gradient's two sides).
    var leftFactor = Matrix<Scalar>(rows: 0, columns: 0)
    var rightFactor = Matrix<Scalar>(rows: 0, columns: 0)
    /// Each side's `M B` of a factored root (two, so that neither resizes the other's).
    var leftRootScratch = Matrix<Scalar>(rows: 0, columns: 0)
    var rightRootScratch = Matrix<Scalar>(rows: 0, columns: 0)
    var leftStep: [Scalar] = []
    var rightStep: [Scalar] = []
    var leftScales: [Scalar] = []
    var rightScales: [Scalar] = []

    /// An empty workspace: its buffers grow to the block's sizes on first use.
    public init() {}
}
