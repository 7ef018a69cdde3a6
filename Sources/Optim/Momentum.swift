import Linalg

/// Heavy-ball momentum `v <- mu v + (1 - dampening) d`, direction `= v` (or Nesterov's `d + mu v`).
public final class Momentum: TensorTransform {
    /// `mu`, the fraction of the velocity kept each step (`OptimizerConfig.momentum`, in [0, 1),
    /// default 0.9).
    public let momentum: Float
    /// The fraction of the direction left out of the velocity (`OptimizerConfig.momentumDampening`,
    /// default 0).
    public let dampening: Float
    /// Whether the direction is Nesterov's `d + mu v` rather than `v` (`OptimizerConfig.nesterov`,
    /// default false).
    public let nesterov: Bool
    private var velocity: [Float]

    /// Momentum for a shard of `count` elements, the velocity starting at zero; the rates are
    /// rounded to Float32.
    public init(count: Int, momentum: Double, dampening: Double = 0, nesterov: Bool) {
        self.momentum = Float(momentum)
        self.dampening = Float(dampening)
        self.nesterov = nesterov
        velocity = [Float](repeating: 0, count: count)
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        let (momentum, nesterov, kept) = (self.momentum, self.nesterov, 1 - dampening)
        timed(&timings.otherSeconds) {
            direction.withUnsafeMutableBufferPointer { values in
                velocity.withUnsafeMutableBufferPointer { v in
                    guard let d = values.baseAddress, let v = v.baseAddress else { return }
                    ParallelLoop.forEachRange(count: values.count) { range in
                        if nesterov {
                            for index in range {
                                v[index] = momentum * v[index] + kept * d[index]
                                d[index] += momentum * v[index]
                            }
                        } else {
                            for index in range {
                                v[index] = momentum * v[index] + kept * d[index]
                                d[index] = v[index]
                            }
                        }
                    }
                }
            }
        }
    }

    public func stateTensors() -> [NamedTensor] {
        [NamedTensor(name: "momentum", shape: [velocity.count], values: velocity)]
    }

    public func restore(_ saved: SavedState) throws(SavedStateError) {
        velocity = try saved.floats("momentum", shape: [velocity.count])
    }
}
