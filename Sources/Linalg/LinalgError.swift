/// A failure reported by LAPACK, or an input it cannot work with.
public enum LinalgError: Error, Equatable, CustomStringConvertible {
    /// LU factorization met an exactly zero pivot (1-based position, as LAPACK reports it).
    case singular(routine: String, pivot: Int)
    /// The eigensolver did not converge (LAPACK `info > 0`).
    case eigensolverDidNotConverge(routine: String, info: Int)
    /// The input held NaN or infinity; LAPACK would return garbage or loop.
    case nonFiniteInput(routine: String)
    /// Cholesky factorization met a non-positive pivot: the matrix is not positive definite
    /// (1-based order of the leading minor, as LAPACK reports it).
    case notPositiveDefinite(routine: String, minor: Int)
    /// LAPACK rejected an argument (`info < 0`): a bug in the caller.
    case invalidArgument(routine: String, position: Int)

    public var description: String {
        switch self {
        case .singular(let routine, let pivot):
            return "\(routine): matrix is singular (zero pivot at position \(pivot))"
        case .eigensolverDidNotConverge(let routine, let info):
            return "\(routine): eigensolver did not converge (info = \(info))"
        case .nonFiniteInput(let routine):
            return "\(routine): input contains NaN or infinity"
        case .notPositiveDefinite(let routine, let minor):
            return "\(routine): matrix is not positive definite (leading minor \(minor))"
        case .invalidArgument(let routine, let position):
            return "\(routine): argument \(position) has an illegal value"
        }
    }
}
