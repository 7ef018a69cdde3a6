import Linalg
import Support

/// Grafting (Agarwal et al. 2020; Distributed Shampoo's practice): keep the preconditioned
/// direction but give it the norm of a simpler optimizer's step on the same gradient, so that
/// the learning rate of that optimizer carries over.
///
///     d <- d * ||a|| / ||d||,   a = g (sgd)   or   a = g / (sqrt(v̂) + eps), v <- b2 v + (1 - b2) g² (adam)
public final class Grafting: TensorTransform {
    public enum Kind: String, NamedChoice {
        case none, sgd, adam
    }

    public let kind: Kind
    public let secondMomentDecay: Float
    public let epsilon: Float
    private var secondMoment: [Float]

    public init(kind: Kind, count: Int, secondMomentDecay: Double, epsilon: Double) {
        precondition(kind != .none, "Grafting: kind none needs no stage")
        self.kind = kind
        self.secondMomentDecay = Float(secondMomentDecay)
        self.epsilon = Float(epsilon)
        secondMoment = [Float](repeating: 0, count: kind == .adam ? count : 0)
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        let (b2, epsilon) = (secondMomentDecay, self.epsilon)
        let correction = 1 / (1 - Float.pow(b2, Float(step + 1)))
        let kind = self.kind
        timed(&timings.otherSeconds) {
            var graftNormSquared: Float = 0
            gradient.withUnsafeBufferPointer { g in
                switch kind {
                case .sgd, .none:
                    graftNormSquared = BLAS.dot(g, g)
                case .adam:
                    secondMoment.withUnsafeMutableBufferPointer { v in
                        for index in g.indices {
                            v[index] = b2 * v[index] + (1 - b2) * g[index] * g[index]
                            let graft = g[index] / ((v[index] * correction).squareRoot() + epsilon)
                            graftNormSquared += graft * graft
                        }
                    }
                }
            }
            let directionNorm = direction.frobeniusNorm
            if directionNorm > 0 && directionNorm.isFinite {
                direction.scale(by: graftNormSquared.squareRoot() / directionNorm)
            }
        }
    }

    public func stateTensors() -> [NamedTensor] {
        kind == .adam ? [NamedTensor(name: "graft.v", shape: [secondMoment.count], values: secondMoment)] : []
    }

    public func restore(_ saved: SavedState) throws(SavedStateError) {
        if kind == .adam {
            secondMoment = try saved.floats("graft.v", shape: [secondMoment.count])
        }
    }
}
