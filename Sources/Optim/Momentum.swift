import Linalg

/// Heavy-ball momentum `v <- mu v + (1 - dampening) d`, direction `= v` (or Nesterov's `d + mu v`).
public final class Momentum: ElementwiseTransform {
    /// `mu`, the fraction of the velocity kept each step (`OptimizerConfig.momentum`, in [0, 1),
    /// default 0.9).
    public let momentum: Float
    /// The fraction of the direction left out of the velocity (`OptimizerConfig.momentumDampening`,
    /// default 0).
    public let dampening: Float
    /// Whether the direction is Nesterov's `d + mu v` rather than `v` (`OptimizerConfig.nesterov`,
    /// default false).
    public let nesterov: Bool
    private let velocity: StateVector

    /// Momentum for a shard of `count` elements, the velocity starting at zero; the rates are
    /// rounded to Float32.
    public init(count: Int, momentum: Double, dampening: Double = 0, nesterov: Bool) {
        self.momentum = Float(momentum)
        self.dampening = Float(dampening)
        self.nesterov = nesterov
        velocity = StateVector(count: count)
    }

    public func apply(elements: Range<Int>, direction d: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int) {
        let (momentum, nesterov, kept) = (self.momentum, self.nesterov, 1 - dampening)
        let v = velocity.base + elements.lowerBound
        if nesterov {
            for index in 0..<elements.count {
                v[index] = momentum * v[index] + kept * d[index]
                d[index] += momentum * v[index]
            }
        } else {
            for index in 0..<elements.count {
                v[index] = momentum * v[index] + kept * d[index]
                d[index] = v[index]
            }
        }
    }

    public func stateTensors() -> [NamedTensor] {
        [NamedTensor(name: "momentum", shape: [velocity.values.count], values: velocity.array)]
    }

    public func restore(_ saved: SavedState) throws(SavedStateError) {
        let saved: [Float] = try saved.floats("momentum", shape: [velocity.values.count])
        velocity.assign(saved)
    }
}
