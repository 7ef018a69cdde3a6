import Linalg
import Support

/// Grafting (Agarwal et al. 2020; Distributed Shampoo's practice): keep the preconditioned
/// direction but give it the norm of a simpler optimizer's step on the same gradient, so that
/// the learning rate of that optimizer carries over.
///
///     d <- d * ||a|| / ||d||,   a = g (sgd)   or   a = g / (sqrt(v̂) + eps), v <- b2 v + (1 - b2) g² (adam)
public final class Grafting: TensorTransform {
    /// Whose step's norm the preconditioned direction takes.
    public enum Kind: String, NamedChoice {
        /// No grafting: the direction keeps its own norm (the chain has no grafting stage).
        case none
        /// The gradient's norm, `a = g`.
        case sgd
        /// The norm of Adam's step without momentum, `a = g / (sqrt(v̂) + eps)`.
        case adam
    }

    /// `sgd` or `adam` (`none` needs no stage).
    public let kind: Kind
    /// `b2`, the decay of the `adam` graft's second moment (`OptimizerConfig.graftingBeta2`,
    /// default 0.999); `sgd` ignores it.
    public let secondMomentDecay: Float
    /// `eps`, added to `sqrt(v̂)` in the `adam` graft (`OptimizerConfig.graftingEpsilon`, default
    /// 1e-8); `sgd` ignores it.
    public let epsilon: Float
    private var secondMoment: [Float]
    private var blockSums: [Float] = []

    /// Grafting of `kind` (not `none`) for a shard of `count` elements; the `adam` graft's second
    /// moment starts at zero.
    public init(kind: Kind, count: Int, secondMomentDecay: Double, epsilon: Double) {
        precondition(kind != .none, "Grafting: kind none needs no stage")
        self.kind = kind
        self.secondMomentDecay = Float(secondMomentDecay)
        self.epsilon = Float(epsilon)
        secondMoment = [Float](repeating: 0, count: kind == .adam ? count : 0)
    }

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
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
                    graftNormSquared = adamGraftNormSquared(g, decay: b2, correction: correction, epsilon: epsilon)
                }
            }
            let directionNorm = direction.frobeniusNorm
            if directionNorm > 0 && directionNorm.isFinite {
                direction.scale(by: graftNormSquared.squareRoot() / directionNorm)
            }
        }
    }

    /// `v <- b2 v + (1 - b2) g²` and `||g / (sqrt(v / (1 - b2^t)) + eps)||²`, over fixed blocks
    /// of `Self.block` elements spread over the cores; each block sums in eight SIMD lanes and the
    /// blocks' sums are added in order, so the result does not depend on the worker count.
    private func adamGraftNormSquared(_ gradient: UnsafeBufferPointer<Float>, decay b2: Float, correction: Float, epsilon: Float) -> Float {
        let count = gradient.count
        let blocks = (count + Self.block - 1) / Self.block
        if blockSums.count != blocks { blockSums = [Float](repeating: 0, count: blocks) }
        secondMoment.withUnsafeMutableBufferPointer { moment in
            blockSums.withUnsafeMutableBufferPointer { sums in
                guard let g = gradient.baseAddress, let v = moment.baseAddress, let sums = sums.baseAddress else { return }
                ParallelLoop.forEach(count: blocks, workers: count >= 2 * Self.block ? BLASThreading.threads : 1) { block, _ in
                    let start = block * Self.block
                    sums[block] = Self.adamGraftBlock(g + start, v + start, count: min(Self.block, count - start), decay: b2, correction: correction, epsilon: epsilon)
                }
            }
        }
        return blockSums.reduce(0, +)
    }

    /// Elements per block of the graft's reduction.
    private static let block = 16_384

    @inline(__always)
    private static func adamGraftBlock(
        _ g: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Float>, count: Int, decay b2: Float, correction: Float, epsilon: Float
    ) -> Float {
        let (keep, take) = (SIMD8<Float>(repeating: b2), SIMD8<Float>(repeating: 1 - b2))
        let (scale, offset) = (SIMD8<Float>(repeating: correction), SIMD8<Float>(repeating: epsilon))
        var lanes = SIMD8<Float>(repeating: 0)
        var index = 0
        while index + 8 <= count {
            let gradient = UnsafeRawPointer(g + index).loadUnaligned(as: SIMD8<Float>.self)
            var moment = UnsafeRawPointer(v + index).loadUnaligned(as: SIMD8<Float>.self)
            moment = keep * moment + take * gradient * gradient
            UnsafeMutableRawPointer(v + index).storeBytes(of: moment, as: SIMD8<Float>.self)
            let graft = gradient / ((moment * scale).squareRoot() + offset)
            lanes += graft * graft
            index += 8
        }
        var sum = lanes.sum()
        while index < count {
            v[index] = b2 * v[index] + (1 - b2) * g[index] * g[index]
            let graft = g[index] / ((v[index] * correction).squareRoot() + epsilon)
            sum += graft * graft
            index += 1
        }
        return sum
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
