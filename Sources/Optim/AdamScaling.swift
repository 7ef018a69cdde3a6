import Linalg

/// Adam's scaling: `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g²`,
/// direction `= m̂ / (sqrt(v̂) + eps)` with bias corrections `m̂ = m / (1 - b1^t)`, `v̂ = v / (1 - b2^t)`
/// (Kingma & Ba 2015; AdamW follows it with `WeightDecay`, decoupled from this scaling).
public final class AdamScaling: TensorTransform {
    /// `b1`, the decay of the first moment `m` (`OptimizerConfig.beta1`, default 0.9).
    public let firstMomentDecay: Float
    /// `b2`, the decay of the second moment `v` (`OptimizerConfig.beta2`, default 0.999).
    public let secondMomentDecay: Float
    /// `eps`, added to `sqrt(v̂)` before dividing so that a zero second moment gives a finite
    /// direction (`OptimizerConfig.epsilon`, default 1e-8).
    public let epsilon: Float
    private var firstMoment: [Float]
    private var secondMoment: [Float]

    /// Adam for a shard of `count` elements, both moments starting at zero; the rates are
    /// rounded to Float32.
    public init(count: Int, firstMomentDecay: Double, secondMomentDecay: Double, epsilon: Double) {
        self.firstMomentDecay = Float(firstMomentDecay)
        self.secondMomentDecay = Float(secondMomentDecay)
        self.epsilon = Float(epsilon)
        firstMoment = [Float](repeating: 0, count: count)
        secondMoment = [Float](repeating: 0, count: count)
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        let (b1, b2, epsilon) = (firstMomentDecay, secondMomentDecay, self.epsilon)
        let t = Float(step + 1)
        let firstCorrection = 1 / (1 - Float.pow(b1, t))
        let secondCorrection = 1 / (1 - Float.pow(b2, t))
        timed(&timings.otherSeconds) {
            direction.withUnsafeMutableBufferPointer { values in
                firstMoment.withUnsafeMutableBufferPointer { m in
                    secondMoment.withUnsafeMutableBufferPointer { v in
                        for index in values.indices {
                            let g = values[index]
                            m[index] = b1 * m[index] + (1 - b1) * g
                            v[index] = b2 * v[index] + (1 - b2) * g * g
                            values[index] = m[index] * firstCorrection / ((v[index] * secondCorrection).squareRoot() + epsilon)
                        }
                    }
                }
            }
        }
    }

    public func stateTensors() -> [NamedTensor] {
        [NamedTensor(name: "adam.m", shape: [firstMoment.count], values: firstMoment),
         NamedTensor(name: "adam.v", shape: [secondMoment.count], values: secondMoment)]
    }

    public func restore(_ saved: SavedState) throws(SavedStateError) {
        firstMoment = try saved.floats("adam.m", shape: [firstMoment.count])
        secondMoment = try saved.floats("adam.v", shape: [secondMoment.count])
    }
}
