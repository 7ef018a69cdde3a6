import Linalg

/// Decoupled weight decay (Loshchilov & Hutter 2019; optax's `add_decayed_weights`): `d <- d + wd W`,
/// added to the direction after the optimizer's scaling, so the learning rate then scales both.
public final class WeightDecay: StatelessTensorTransform {
    /// `wd`, the multiple of the parameters added to the direction (`OptimizerConfig.weightDecay`).
    public let decay: Float

    /// Decay by `decay`, rounded to Float32.
    public init(decay: Double) {
        self.decay = Float(decay)
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        let decay = self.decay
        timed(&timings.otherSeconds) {
            direction.withUnsafeMutableBufferPointer { values in
                for index in values.indices { values[index] += decay * parameters[index] }
            }
        }
    }
}
