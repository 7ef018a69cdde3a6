import Linalg

/// The rectifier layer, `y = max(x, 0)` elementwise (see `ReLUFunction`).
package typealias ReLU<Scalar: LinalgScalar> = ElementwiseActivation<ReLUFunction<Scalar>>

/// The rectifier, `y = max(x, 0)`; `dx = dy · [x > 0]` (the gradient at 0 is 0).
package enum ReLUFunction<Scalar: LinalgScalar>: ActivationFunction {
    package static var kind: String { "relu" }
    package static var name: String { "ReLU" }

    /// The derivative is cheaper to recompute from the input than to keep.
    package static var keepsDerivative: Bool { false }

    package static func forward(
        input x: UnsafePointer<Scalar>, output y: UnsafeMutablePointer<Scalar>, derivative: UnsafeMutablePointer<Scalar>?, count: Int
    ) {
        precondition(derivative == nil, "ReLU.forward: keeps no derivative")
        for index in 0..<count { y[index] = x[index] > 0 ? x[index] : 0 }
    }

    package static func backward(
        input x: UnsafePointer<Scalar>, outputGradient dy: UnsafePointer<Scalar>,
        inputGradient dx: UnsafeMutablePointer<Scalar>, count: Int
    ) {
        for index in 0..<count {
            let gradient = dy[index]
            dx[index] = x[index] > 0 ? gradient : 0
        }
    }
}
