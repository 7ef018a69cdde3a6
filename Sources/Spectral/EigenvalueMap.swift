import Support

/// How the eigenvalues move: the truncation of `d <- d ⊙ exp(m)` (ALGORITHM.md section 2).
public enum EigenvalueMap: String, NamedChoice {
    /// `d ⊙ (1 + m)`: the exact EMA of the diagonal in the current basis. Positive for PSD
    /// curvature; the default there.
    case linear
    /// `d ⊙ (1 + m + m²/2)` with `m` clipped to [-1, 1]: always positive. The default for
    /// indefinite ("generic") curvature.
    case trunc2
    /// `d ⊙ exp(clip(m, -1, 1))`.
    case exp
}
