// Preconditions your own gradients with spectrain's Kronecker-factored spectral curvature: a
// least-squares fit of a weight matrix W (features x outputs) to badly scaled features, trained
// with plain gradient descent and with the same loop preconditioned, side by side.
import Foundation
import Linalg
import Spectral

let (samples, features, outputs, steps) = (512, 32, 8, 200)
var generator = SeededGenerator(seed: 7)
// Feature scales span two orders of magnitude, so the loss's curvature spans four.
let data = Matrix<Double>(rows: samples, columns: features) { _, column in
    generator.nextGaussian() * pow(10, 2 * Double(column) / Double(features - 1) - 1)
}
let truth = Matrix<Double>(rows: features, columns: outputs) { _, _ in generator.nextGaussian() }
let labels = BLAS.product(data, truth)

/// The loss `|X W - Y|² / 2N` and its gradient `X^T (X W - Y) / N`, as any training code has.
func lossAndGradient(_ weights: Matrix<Double>) -> (loss: Double, gradient: Matrix<Double>) {
    let residual = BLAS.product(data, weights) - labels
    let loss = residual.elements.reduce(0) { $0 + $1 * $1 } / Double(2 * samples)
    return (loss, (1 / Double(samples)) * BLAS.product(data, residual, transposeA: true))
}

// Plain gradient descent at its best rate (a sweep: 0.017; 0.02 diverges): the directions of
// small curvature barely move.
var plain = Matrix<Double>(rows: features, columns: outputs)
for _ in 0..<steps { plain = plain - 0.017 * lossAndGradient(plain).gradient }

// The same loop preconditioned. The curvature is a Kronecker product of spectral factors
// S_L (features x features) and S_R (outputs x outputs), each kept as B Diag(d) B^T and learned
// from the gradients by matmul-only steps (no eigendecomposition, ever); `kl` mode learns them as
// one curvature. The step is S^(-1/2) applied to G: power 2.
let curvature = KroneckerFactors<Double>(
    rows: features, columns: outputs, mode: .kl,
    options: SpectralFactorOptions(curvatureLearningRate: 0.1), initialEigenvalue: 1e-3)
var weights = Matrix<Double>(rows: features, columns: outputs)
var direction = Matrix<Double>(rows: features, columns: outputs)
for step in 0..<steps {
    let (loss, gradient) = lossAndGradient(weights)
    try curvature.update(gradient: gradient)
    curvature.preconditionGradient(gradient, power: 2, into: &direction)
    weights = weights - 0.02 * direction
    if step % 50 == 0 { print("step \(step): loss \(loss)") }
}

let plainLoss = lossAndGradient(plain).loss
let preconditionedLoss = lossAndGradient(weights).loss
let health = curvature.left.measureHealth()
print("after \(steps) steps: gradient descent \(plainLoss), spectral preconditioning \(preconditionedLoss)")
print("S_L: eigenvalues \(health.minEigenvalue) to \(health.maxEigenvalue), orthogonality error \(health.orthogonalityError)")
guard preconditionedLoss < plainLoss / 5 else {
    print("error: the preconditioned loss is not 5x below gradient descent's")
    exit(1)
}
