/// A weight gradient kept as the two thin matrices it is the product of, `G = dY^T X` (a linear
/// layer's `dW` over the `r` rows of a batch: `dY` is r x a, `X` is r x b), so that products with
/// `G` can go through the factors where `r` is small against the sides.
///
/// Multiplying `G` by an `a x a` matrix on the left and a `b x b` one on the right costs
/// `a² b + a b²` multiply-adds through `G` and `r a² + r b² + r a b` through the factors
/// (`(dY L)^T (X R)`); `costsLess(rank:rows:columns:)` is that comparison, the one rule for
/// where the factors are used.
public struct FactoredGradient<Scalar: LinalgScalar>: Sendable {
    /// `dY`, the gradient of the layer's output: rank x rows.
    public var outputGradient: Matrix<Scalar>
    /// `X`, the layer's input: rank x columns.
    public var input: Matrix<Scalar>

    /// `G = dY^T X` kept as its factors, which must have the same number of rows (`rank`).
    public init(outputGradient: Matrix<Scalar>, input: Matrix<Scalar>) {
        precondition(outputGradient.rows == input.rows,
                     "FactoredGradient: dY has \(outputGradient.rows) rows, X has \(input.rows)")
        self.outputGradient = outputGradient
        self.input = input
    }

    /// `a`, the rows of `G`.
    public var rows: Int { outputGradient.columns }
    /// `b`, the columns of `G`.
    public var columns: Int { input.columns }
    /// `r`, the rows of the batch (at most the rank of `G`).
    public var rank: Int { input.rows }

    /// `G = dY^T X`, formed (tests and checks; the point of the type is not to form it).
    public var matrix: Matrix<Scalar> {
        BLAS.product(outputGradient, input, transposeA: true)
    }

    /// Whether a two-sided product through the factors costs fewer multiply-adds than through
    /// `G`: `r (a² + a b + b²) < a b (a + b)` (for `a = b`: `r < 2a/3`).
    public static func costsLess(rank: Int, rows: Int, columns: Int) -> Bool {
        let (r, a, b) = (Double(rank), Double(rows), Double(columns))
        return r * (a * a + a * b + b * b) < a * b * (a + b)
    }
}
