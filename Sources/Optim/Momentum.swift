import Linalg

/// Heavy-ball momentum `v <- mu v + (1 - dampening) d`, direction `= v` (or Nesterov's `d + mu v`).
public final class Momentum: TensorTransform {
    public let momentum: Float
    public let dampening: Float
    public let nesterov: Bool
    private var velocity: [Float]

    public init(count: Int, momentum: Double, dampening: Double = 0, nesterov: Bool) {
        self.momentum = Float(momentum)
        self.dampening = Float(dampening)
        self.nesterov = nesterov
        velocity = [Float](repeating: 0, count: count)
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        let (momentum, nesterov, kept) = (self.momentum, self.nesterov, 1 - dampening)
        timed(&timings.otherSeconds) {
            direction.withUnsafeMutableBufferPointer { values in
                velocity.withUnsafeMutableBufferPointer { v in
                    for index in values.indices {
                        v[index] = momentum * v[index] + kept * values[index]
                        values[index] = nesterov ? values[index] + momentum * v[index] : v[index]
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
