import Linalg
import Spectral
import Support

/// The preconditioning stage of the Spectral and Eigen-Shampoo optimizers for one tensor:
/// curvature updates on their schedule, then `direction <- P(direction)` with the tensor's
/// `ParameterPreconditioner` (Kronecker blocks, or the diagonal fallback for vectors).
///
/// Spectral blocks update their factors every `curvatureInterval` steps (default 1) and their
/// roots are always current. Eigen-Shampoo blocks update their moving averages every step and
/// recompute roots by eigendecomposition every `rootInterval` steps.
public final class KroneckerPreconditioning: TensorTransform {
    public enum Method: String, NamedChoice {
        case spectral, eigen
    }

    public let method: Method
    public let preconditioner: ParameterPreconditioner<Float>
    public let curvatureInterval: Int
    public let rootInterval: Int
    /// The gradient is multiplied by this before the curvature update (1, or sqrt(batch size)).
    public let curvatureScale: Float
    private let owner: String
    private var scaledGradient = Matrix<Float>(rows: 0, columns: 0)
    private var result = Matrix<Float>(rows: 0, columns: 0)

    public init(
        method: Method, tensor: ParameterInfo, options: PreconditionerOptions,
        curvatureInterval: Int, rootInterval: Int, curvatureScale: Float
    ) {
        self.method = method
        self.curvatureInterval = curvatureInterval
        self.rootInterval = rootInterval
        self.curvatureScale = curvatureScale
        self.owner = tensor.name
        switch method {
        case .spectral:
            preconditioner = ParameterPreconditioner(shape: tensor.preconditionerShape, options: options)
            // Factors that change every step are applied in factored form; with T > 1 a dense root
            // serves the T steps between updates.
            preconditioner.setUsesDenseRoots(curvatureInterval > 1)
        case .eigen:
            preconditioner = ParameterPreconditioner(shape: tensor.preconditionerShape, options: options) { rows, columns in
                EigenKroneckerFactors<Float>(
                    rows: rows, columns: columns, curvatureLearningRate: options.factor.curvatureLearningRate,
                    initialValue: Float(options.initialEigenvalue))
            }
        }
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        let updatesCurvature = method == .eigen || step % curvatureInterval == 0
        if updatesCurvature {
            try timed(&timings.curvatureSeconds) { () throws(OptimizerError) in
                var curvatureInput = gradient
                if curvatureScale != 1 {
                    scaledGradient.assign(gradient)
                    scaledGradient.scale(by: curvatureScale)
                    curvatureInput = scaledGradient
                }
                do {
                    try preconditioner.update(gradient: curvatureInput)
                    if method == .eigen && step % rootInterval == 0 { try preconditioner.refreshRoots() }
                } catch {
                    throw OptimizerError("\(owner): \(error)")
                }
            }
        }
        timed(&timings.preconditionSeconds) {
            preconditioner.preconditionGradient(direction, into: &result)
            swap(&direction, &result)
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
