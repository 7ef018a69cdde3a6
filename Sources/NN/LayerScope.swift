import Support

/// What one row of a `Linear` or `LayerNorm` is, so the same kernels serve whole samples (an
/// image classifier's head) and every token of a sequence (a transformer's projections).
///
/// Configs spell it as the field "over": "sample" (the default) or "token".
package enum LayerScope: String, NamedChoice {
    /// The whole flattened per-sample tensor is one row.
    case sample
    /// Each vector of the last dimension is a row: a per-sample [T, C] tensor is T rows of C.
    case token

    /// The rows per sample and the elements of each row for a per-sample `inputShape` (every
    /// dimension at least 1, checked by the caller).
    func rows(of inputShape: [Int]) -> (perSample: Int, width: Int) {
        switch self {
        case .sample: (1, elementCount(inputShape))
        case .token: (elementCount(Array(inputShape.dropLast())), inputShape.last ?? 1)
        }
    }

    /// The per-sample output shape of a layer with `outputs` features per row.
    func outputShape(for inputShape: [Int], outputs: Int) -> [Int] {
        switch self {
        case .sample: [outputs]
        case .token: Array(inputShape.dropLast()) + [outputs]
        }
    }
}
