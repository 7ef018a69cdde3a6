import Linalg

/// The scratch memory of spectral factor updates and roots, shared by the factors of one size that
/// an optimizer updates one at a time, so that scratch grows with the number of distinct factor
/// sizes rather than with the number of factors; the state (`B`, `d`) stays with each factor.
///
/// Nothing in it carries meaning from one call to the next, except `widenedEigenvectors`, which
/// says whose `B` it holds (a factor with bfloat16 storage widens into it before use).
public final class SpectralFactorWorkspace<Scalar: LinalgScalar> {
    /// `Hh = B^T H B` (upper triangle and diagonal).
    var rotatedCurvature = Matrix<Scalar>(rows: 0, columns: 0)
    /// The rotation `K`.
    var rotation = Matrix<Scalar>(rows: 0, columns: 0)
    /// The retracted `B` before the failure policy accepts it.
    var candidateEigenvectors = Matrix<Scalar>(rows: 0, columns: 0)
    var candidateEigenvalues: [Scalar] = []
    var logStep: [Scalar] = []
    var rootScales: [Scalar] = []
    var rowSums: [Scalar] = []
    let retraction = RetractionWorkspace<Scalar>()
    /// `B^T U` and root products, one per shape in use (`take`/`give`).
    private var scratchMatrices: [Shape: Matrix<Scalar>] = [:]
    /// `B` of a bfloat16 factor widened to `Scalar`, and which factor state it is.
    var widenedEigenvectors = Matrix<Scalar>(rows: 0, columns: 0)
    var widenedState: WidenedState?

    /// The factor and state version `widenedEigenvectors` belongs to.
    struct WidenedState: Equatable {
        var factor: ObjectIdentifier
        var version: Int
    }

    private struct Shape: Hashable {
        var rows: Int
        var columns: Int
    }

    /// An empty workspace: its buffers grow to the factors' sizes on first use.
    public init() {}

    /// A `rows x columns` scratch matrix, the one last given back with this shape if any (no
    /// allocation once every shape in use has been seen); give it back with `give`.
    func take(rows: Int, columns: Int) -> Matrix<Scalar> {
        scratchMatrices.removeValue(forKey: Shape(rows: rows, columns: columns)) ?? Matrix(rows: rows, columns: columns)
    }

    func give(_ matrix: Matrix<Scalar>) {
        scratchMatrices[Shape(rows: matrix.rows, columns: matrix.columns)] = matrix
    }
}
