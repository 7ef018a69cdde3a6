import Linalg

/// Decoupled weight decay (Loshchilov & Hutter 2019; optax's `add_decayed_weights`): `d <- d + wd W`,
/// added to the direction after the optimizer's scaling, so the learning rate then scales both.
public final class WeightDecay: StatelessTensorTransform, ElementwiseTransform {
    /// `wd`, the multiple of the parameters added to the direction (`OptimizerConfig.weightDecay`).
    public let decay: Float

    /// Decay by `decay`, rounded to Float32.
    public init(decay: Double) {
        self.decay = Float(decay)
    }

    public func apply(elements: Range<Int>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int) {
        let decay = self.decay
        for index in 0..<elements.count { direction[index] += decay * parameters[index] }
    }
}
