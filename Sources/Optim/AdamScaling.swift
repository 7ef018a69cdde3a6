import Linalg

/// Adam's scaling: `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g²`,
/// direction `= m̂ / (sqrt(v̂) + eps)` with bias corrections `m̂ = m / (1 - b1^t)`, `v̂ = v / (1 - b2^t)`
/// (Kingma & Ba 2015; AdamW follows it with `WeightDecay`, decoupled from this scaling).
public final class AdamScaling: ElementwiseTransform {
    /// `b1`, the decay of the first moment `m` (`OptimizerConfig.beta1`, default 0.9).
    public let firstMomentDecay: Float
    /// `b2`, the decay of the second moment `v` (`OptimizerConfig.beta2`, default 0.999).
    public let secondMomentDecay: Float
    /// `eps`, added to `sqrt(v̂)` before dividing so that a zero second moment gives a finite
    /// direction (`OptimizerConfig.epsilon`, default 1e-8).
    public let epsilon: Float
    private let firstMoment: StateVector
    private let secondMoment: StateVector

    /// Adam for a shard of `count` elements, both moments starting at zero; the rates are
    /// rounded to Float32.
    public init(count: Int, firstMomentDecay: Double, secondMomentDecay: Double, epsilon: Double) {
        self.firstMomentDecay = Float(firstMomentDecay)
        self.secondMomentDecay = Float(secondMomentDecay)
        self.epsilon = Float(epsilon)
        firstMoment = StateVector(count: count)
        secondMoment = StateVector(count: count)
    }

    public func apply(elements: Range<Int>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int) {
        scale(elements: elements, from: direction, step: step) { index, value in
            UnsafeMutableRawPointer(direction + index).storeBytes(of: value, as: SIMD4<Float>.self)
        } scalar: { index, value in
            direction[index] = value
        }
    }

    /// Reads g from the gradient itself, without the copy into the direction.
    public func applyToGradient(
        elements: Range<Int>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int
    ) {
        scale(elements: elements, from: gradient, step: step) { index, value in
            UnsafeMutableRawPointer(direction + index).storeBytes(of: value, as: SIMD4<Float>.self)
        } scalar: { index, value in
            direction[index] = value
        }
    }

    /// The parameter update in the same pass, so its loads overlap the square roots and divisions.
    public func applyUpdating(
        elements: Range<Int>, source: UnsafePointer<Float>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
        parameters: UnsafeMutablePointer<Float>, scale factor: Float, step: Int
    ) {
        scale(elements: elements, from: source, step: step) { index, value in
            let values = UnsafeMutableRawPointer(parameters + index)
            values.storeBytes(of: values.loadUnaligned(as: SIMD4<Float>.self) + value * factor, as: SIMD4<Float>.self)
        } scalar: { index, value in
            parameters[index] += value * factor
        }
    }

    /// The moments' update from `g = source[i]`, handing each direction value to `output` (four
    /// lanes at a time) or `scalarOutput` (the tail), with the index of its first element.
    @inline(__always)
    private func scale(
        elements: Range<Int>, from source: UnsafePointer<Float>, step: Int,
        output: (Int, SIMD4<Float>) -> Void, scalar scalarOutput: (Int, Float) -> Void
    ) {
        let (b1, b2, epsilon) = (firstMomentDecay, secondMomentDecay, self.epsilon)
        let t = Float(step + 1)
        let firstCorrection = 1 / (1 - Float.pow(b1, t))
        let secondCorrection = 1 / (1 - Float.pow(b2, t))
        let (m, v) = (firstMoment.base + elements.lowerBound, secondMoment.base + elements.lowerBound)
        // Four lanes at a time (SIMD; the same operations in the same order as the tail's scalar
        // loop, without fused multiply-adds, so the same bits), then the rest.
        let lanes = SIMD4<Float>.scalarCount
        let vectorEnd = elements.count - elements.count % lanes
        for index in stride(from: 0, to: vectorEnd, by: lanes) {
            let g = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD4<Float>.self)
            let firstMomentValue = b1 * UnsafeRawPointer(m + index).loadUnaligned(as: SIMD4<Float>.self) + (1 - b1) * g
            let secondMomentValue = b2 * UnsafeRawPointer(v + index).loadUnaligned(as: SIMD4<Float>.self) + (1 - b2) * g * g
            UnsafeMutableRawPointer(m + index).storeBytes(of: firstMomentValue, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(v + index).storeBytes(of: secondMomentValue, as: SIMD4<Float>.self)
            output(index, firstMomentValue * firstCorrection / (VectorKernels.squareRoot(secondMomentValue * secondCorrection) + epsilon))
        }
        for index in vectorEnd..<elements.count {
            let g = source[index]
            m[index] = b1 * m[index] + (1 - b1) * g
            v[index] = b2 * v[index] + (1 - b2) * g * g
            scalarOutput(index, m[index] * firstCorrection / ((v[index] * secondCorrection).squareRoot() + epsilon))
        }
    }

    public func stateTensors() -> [NamedTensor] {
        [NamedTensor(name: "adam.m", shape: [firstMoment.values.count], values: firstMoment.array),
         NamedTensor(name: "adam.v", shape: [secondMoment.values.count], values: secondMoment.array)]
    }

    public func restore(_ saved: SavedState) throws(SavedStateError) {
        let first: [Float] = try saved.floats("adam.m", shape: [firstMoment.values.count])
        let second: [Float] = try saved.floats("adam.v", shape: [secondMoment.values.count])
        firstMoment.assign(first)
        secondMoment.assign(second)
    }
}
