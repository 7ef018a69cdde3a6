import Linalg

/// The fallback for 1-D parameters (biases, norms) and, optionally, for matrices too large to
/// factor: a diagonal curvature `s <- (1 - beta2) s + beta2 g²` and `P = (s + eps)^(-exponent) ⊙ g`
/// (Adam's second moment at exponent 1/2).
public final class DiagonalPreconditioner<Scalar: LinalgScalar> {
    /// `s`, the diagonal curvature; what a checkpoint saves.
    public private(set) var curvature: [Scalar]
    /// `beta2`, the weight of the new `g²` in the moving average of `s`.
    public let curvatureLearningRate: Scalar
    /// `(s + eps)^(-exponent)`.
    public let exponent: Double
    /// `eps`, added to `s` before the power (`relative` damping scales with the largest `s`).
    public let damping: RootDamping

    /// A diagonal of `count` elements starting at `s = initialValue`; `exponent` is the power of
    /// `(s + eps)^(-exponent)` (`PreconditionerOptions.diagonalExponent` for a parameter).
    public init(count: Int, curvatureLearningRate: Double, exponent: Double, damping: RootDamping, initialValue: Scalar = 1) {
        precondition(count >= 1, "DiagonalPreconditioner: \(count) elements")
        curvature = [Scalar](repeating: initialValue, count: count)
        self.curvatureLearningRate = Scalar(curvatureLearningRate)
        self.exponent = exponent
        self.damping = damping
    }

    /// Restores a saved curvature.
    public func restore(curvature saved: [Scalar]) throws(SpectralFactorError) {
        guard saved.count == curvature.count else {
            throw .invalidState("diagonal curvature has \(saved.count) elements, expected \(curvature.count)")
        }
        guard saved.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw .invalidState("diagonal curvature must be finite and non-negative")
        }
        curvature = saved
    }

    /// "diagonal.s", the curvature (what a checkpoint stores).
    public func stateTensors() -> [NamedTensor] {
        [NamedTensor(name: "diagonal.s", shape: [curvature.count], values: curvature)]
    }

    /// Restores the curvature `stateTensors()` saved.
    public func restore(from saved: SavedState) throws(SavedStateError) {
        let values: [Scalar] = try saved.floats("diagonal.s", shape: [curvature.count])
        do { try restore(curvature: values) } catch { throw SavedStateError("\(error)") }
    }

    /// `s <- (1 - beta2) s + beta2 g²` for the gradient's elements in storage order.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(gradient: Matrix<Scalar>) {
        precondition(gradient.count == curvature.count, "DiagonalPreconditioner.update: \(gradient.count) elements, expected \(curvature.count)")
        let rate = curvatureLearningRate
        gradient.withUnsafeBufferPointer { values in
            for index in curvature.indices {
                curvature[index] = (1 - rate) * curvature[index] + rate * values[index] * values[index]
            }
        }
    }

    /// `result = (s + eps)^(-exponent) ⊙ g`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func preconditionGradient(_ gradient: Matrix<Scalar>, into result: inout Matrix<Scalar>) {
        precondition(gradient.count == curvature.count, "DiagonalPreconditioner: \(gradient.count) elements, expected \(curvature.count)")
        result.resize(rows: gradient.rows, columns: gradient.columns)
        let epsilon: Scalar = damping.epsilon(largest: curvature.max() ?? 0)
        let negativeExponent = -Scalar(exponent)
        gradient.withUnsafeBufferPointer { values in
            result.withUnsafeMutableBufferPointer { output in
                for index in curvature.indices {
                    output[index] = Scalar.pow(curvature[index] + epsilon, negativeExponent) * values[index]
                }
            }
        }
    }
}
