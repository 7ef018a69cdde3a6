import Linalg

/// The Gaussian error linear unit layer, elementwise (see `GELUFunction`).
package typealias GELU<Scalar: LinalgScalar> = ElementwiseActivation<GELUFunction<Scalar>>

/// The Gaussian error linear unit in its tanh approximation (as GPT-2 and PyTorch's
/// `approximate="tanh"`):
///
///     y     = x/2 (1 + tanh(u)),   u = c (x + 0.044715 x³),   c = sqrt(2/π)
///
/// computed as `y = x σ(2u)` with the logistic `σ(v) = 1/(1 + e^-v)`, the same function
/// (`(1 + tanh(u))/2 = σ(2u)`) for one `exp` instead of a slower `tanh`, without cancellation;
/// with `s = σ(2u)` the derivative is
///
///     dy/dx = s + 2 x s (1 - s) c (1 + 3 · 0.044715 x²)
package enum GELUFunction<Scalar: LinalgScalar>: ActivationFunction {
    package static var kind: String { "gelu" }
    package static var name: String { "GELU" }

    package static var keepsDerivative: Bool { true }

    /// 2c and the cubic coefficient.
    private static var constants: (twiceC: Scalar, cubic: Scalar) { (2 * Scalar.sqrt(2 / Scalar.pi), 0.044715) }

    /// `s = σ(2u)` and `x² ` at `x`: what both the value `x s` and the derivative need.
    @inline(__always)
    private static func logistic(_ value: Scalar, twiceC: Scalar, cubic: Scalar) -> (s: Scalar, square: Scalar) {
        let square = value * value
        return (1 / (1 + Scalar.elementwiseExp(-twiceC * (value + cubic * square * value))), square)
    }

    /// `dy/dx = s + 2 x s (1 - s) c (1 + 3 · 0.044715 x²)`.
    @inline(__always)
    private static func derivative(_ value: Scalar, s: Scalar, square: Scalar, twiceC: Scalar, cubic: Scalar) -> Scalar {
        s + value * s * (1 - s) * twiceC * (1 + 3 * cubic * square)
    }

    package static func forward(
        input x: UnsafePointer<Scalar>, output y: UnsafeMutablePointer<Scalar>, derivative dydx: UnsafeMutablePointer<Scalar>?, count: Int
    ) {
        let (twiceC, cubic) = constants
        guard let dydx else {
            for index in 0..<count {
                let value = x[index]
                y[index] = value * logistic(value, twiceC: twiceC, cubic: cubic).s
            }
            return
        }
        for index in 0..<count {
            let value = x[index]
            let (s, square) = logistic(value, twiceC: twiceC, cubic: cubic)
            y[index] = value * s
            dydx[index] = derivative(value, s: s, square: square, twiceC: twiceC, cubic: cubic)
        }
    }

    package static func backward(
        input x: UnsafePointer<Scalar>, outputGradient dy: UnsafePointer<Scalar>,
        inputGradient dx: UnsafeMutablePointer<Scalar>, count: Int
    ) {
        let (twiceC, cubic) = constants
        for index in 0..<count {
            let value = x[index]
            let (s, square) = logistic(value, twiceC: twiceC, cubic: cubic)
            dx[index] = dy[index] * derivative(value, s: s, square: square, twiceC: twiceC, cubic: cubic)
        }
    }
}
