import Linalg
import Spectral
import Support

/// The preconditioning stage of the Spectral and Eigen-Shampoo optimizers for one tensor:
/// curvature updates on their schedule, then `direction <- P(direction)` with the tensor's
/// `ParameterPreconditioner` (Kronecker blocks, or the diagonal fallback for vectors).
///
/// Spectral blocks update each factor on its `CurvatureSchedule` and their roots are always
/// current; a side preconditions with a dense root when forming it once per update costs less
/// than the second GEMM of the factored form over the steps it serves (`k <= 2 T m`, `m` the
/// other side's size). Eigen-Shampoo blocks update their moving averages every step and recompute
/// roots by eigendecomposition every `rootInterval` steps.
public final class KroneckerPreconditioning: TensorTransform {
    /// Which Kronecker factors precondition the tensor.
    public enum Method: String, NamedChoice {
        /// Spectral factors, each updated on its `CurvatureSchedule`, roots always current (the
        /// `spectral` optimizer).
        case spectral
        /// Exact moving averages updated every step, roots recomputed by eigendecomposition every
        /// `rootInterval` steps (the `eigenShampoo` optimizer).
        case eigen
    }

    /// Spectral or Eigen-Shampoo factors.
    public let method: Method
    /// The tensor's preconditioner and its state: Kronecker blocks, or the diagonal fallback for
    /// a vector.
    public let preconditioner: ParameterPreconditioner<Float>
    /// When each spectral factor is updated and at what rate; `eigen` takes only its
    /// `curvatureLearningRate`, every step.
    public let schedule: CurvatureSchedule
    /// `eigen`: roots are recomputed at the steps divisible by this (at least 1); `spectral`
    /// ignores it.
    public let rootInterval: Int
    /// The gradient is multiplied by this before the curvature update (1, or sqrt(batch size)).
    public let curvatureScale: Float
    private let owner: String
    private var scaledGradient = Matrix<Float>(rows: 0, columns: 0)
    private var scaledOutputGradient = Matrix<Float>(rows: 0, columns: 0)
    private var result = Matrix<Float>(rows: 0, columns: 0)

    /// The stage for `tensor` with fresh factors shaped by `options`; `curvatureScale` multiplies
    /// the gradient before each curvature update, and `workspaces` (spectral only) is scratch
    /// shared by shards updated one at a time.
    public init(
        method: Method, tensor: ParameterInfo, options: PreconditionerOptions,
        schedule: CurvatureSchedule, rootInterval: Int, curvatureScale: Float,
        workspaces: FactorWorkspacePool<Float>? = nil
    ) {
        self.method = method
        self.schedule = schedule
        self.rootInterval = rootInterval
        self.curvatureScale = curvatureScale
        self.owner = tensor.name
        switch method {
        case .spectral:
            preconditioner = ParameterPreconditioner(shape: tensor.preconditionerShape, options: options, workspaces: workspaces)
        case .eigen:
            preconditioner = ParameterPreconditioner(shape: tensor.preconditionerShape, options: options) { rows, columns in
                EigenKroneckerFactors<Float>(
                    rows: rows, columns: columns, curvatureLearningRate: options.factor.curvatureLearningRate,
                    initialValue: Float(options.initialEigenvalue), stateDType: options.stateDType)
            }
        }
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        // Spectral factors multiply through a linear layer's thin factors where that costs less;
        // Eigen-Shampoo's moving averages read the gradient.
        let factored = method == .spectral ? factoredGradient : nil
        if method == .spectral { choosesDenseRoots(step: step, factorRows: factored?.rank) }
        if anyFactorDue(step: step) {
            try timed(&timings.curvatureSeconds) { () throws(OptimizerError) in
                var curvatureInput = gradient
                var curvatureFactors = factored
                if curvatureScale != 1 {
                    scaledGradient.assign(gradient)
                    scaledGradient.scale(by: curvatureScale)
                    curvatureInput = scaledGradient
                    if let factored {
                        scaledOutputGradient.assign(factored.outputGradient)
                        scaledOutputGradient.scale(by: curvatureScale)
                        curvatureFactors = FactoredGradient(outputGradient: scaledOutputGradient, input: factored.input)
                    }
                }
                do {
                    try preconditioner.update(gradient: curvatureInput, factored: curvatureFactors) { block in rates(for: block, step: step) }
                    if method == .eigen && step % rootInterval == 0 { try preconditioner.refreshRoots() }
                } catch {
                    throw OptimizerError("\(owner): \(error)")
                }
            }
        }
        timed(&timings.preconditionSeconds) {
            preconditioner.preconditionGradient(direction, factored: factored, into: &result)
            swap(&direction, &result)
        }
    }

    /// Whether any factor is due at `step` (the diagonal fallback of a vector always is).
    private func anyFactorDue(step: Int) -> Bool {
        guard case .blocks(let blocks) = preconditioner.structure else { return true }
        for block in blocks {
            let due = rates(for: block, step: step)
            if due.left != nil || due.right != nil { return true }
        }
        return false
    }

    /// A block's factor rates at `step` (Eigen-Shampoo: both sides, every step).
    private func rates(for block: ParameterPreconditioner<Float>.Block, step: Int) -> FactorRates {
        switch method {
        case .eigen:
            let rate = schedule.curvatureLearningRate
            return FactorRates(left: rate, right: rate)
        case .spectral:
            return FactorRates(
                left: schedule.rate(dimension: block.rows.count, step: step),
                right: schedule.rate(dimension: block.columns.count, step: step))
        }
    }

    /// Dense roots on the sides where forming one per update (a syrk, `k³` multiply-adds) costs
    /// less than the factored form's second GEMM (`k² m`) over the `T` steps it serves:
    /// `k <= 2 T m`, `m` the other side's size, or the rows of a factored gradient's thin factors
    /// (each root then multiplies one of them).
    private func choosesDenseRoots(step: Int, factorRows: Int?) {
        preconditioner.setDenseRoots { block in
            let (a, b) = (block.rows.count, block.columns.count)
            return (a <= 2 * schedule.interval(dimension: a, step: step) * (factorRows ?? b),
                    b <= 2 * schedule.interval(dimension: b, step: step) * (factorRows ?? a))
        }
    }

    // MARK: - State

    public func stateTensors() -> [NamedTensor] {
        preconditioner.stateTensors()
    }

    public func restore(_ saved: SavedState) throws(SavedStateError) {
        try preconditioner.restore(from: saved)
    }

    /// The health of every spectral factor of this shard (measured: one k³ product each).
    public func measureHealth() -> [(name: String, health: FactorHealth)] {
        preconditioner.measureHealth()
    }
}
