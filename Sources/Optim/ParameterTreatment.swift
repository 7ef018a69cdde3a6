import Linalg
import Spectral

/// How an optimizer treats one parameter tensor (or one block of one): element by element, or
/// through a Kronecker preconditioner with the layout `PreconditionerOptions.layout(shape:)` gives.
public enum ParameterTreatment: Equatable, Sendable {
    /// SGD and AdamW: each element on its own.
    case elementwise
    /// Spectral and Eigen-Shampoo: Kronecker blocks, or the diagonal fallback.
    case preconditioned(PreconditionerLayout)
}

extension OptimizerConfig {
    /// Whether `tensor` is Kronecker-preconditioned and how it is blocked: the one rule that the
    /// optimizer, the trainer's shards, its cost model and its ownership report share.
    public func treatment(of tensor: ParameterInfo) -> ParameterTreatment {
        switch type {
        case .sgd, .adamw:
            return .elementwise
        case .eigenShampoo, .spectral:
            return .preconditioned(preconditioner.layout(shape: tensor.preconditionerShape))
        }
    }

    /// Whether the spectral preconditioner of `tensor` multiplies through its gradient's thin
    /// factors `dY^T X` (of at most `rows` rows) rather than through the gradient: with
    /// `factoredGradients` on, for a matrix kept in one Kronecker block where that costs fewer
    /// multiply-adds (`FactoredGradient.costsLess`).
    public func multipliesThroughFactors(of tensor: ParameterInfo, rows: Int) -> Bool {
        guard type == .spectral, factoredGradients, tensor.shape.count == 2,
              case .preconditioned(let layout) = treatment(of: tensor), layout.blockCount == 1,
              case .blocks = layout else { return false }
        return FactoredGradient<Float>.costsLess(rank: rows, rows: tensor.shape[0], columns: tensor.shape[1])
    }
}
