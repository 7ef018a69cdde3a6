import Linalg
import NN

/// A layer bound to a store of its own, with array-in, array-out forward and backward, for tests.
final class BoundLayer {
    let layer: any Layer<Double>
    let store: ParameterStore<Double>
    let inputShape: [Int]
    let outputShape: [Int]
    let batch: Int

    init(_ layer: any Layer<Double>, inputShape: [Int], batch: Int) throws {
        self.layer = layer
        self.inputShape = inputShape
        self.batch = batch
        outputShape = try layer.outputShape(for: inputShape)
        let tensors = layer.parameterShapes(inputShape: inputShape)
        store = ParameterStore(tensors: tensors)
        layer.bind(store: store, parameterIndices: Array(tensors.indices), inputShape: inputShape, maxBatch: batch)
    }

    var inputCount: Int { batch * inputShape.reduce(1, *) }
    var outputCount: Int { batch * outputShape.reduce(1, *) }

    func forward(_ input: [Double], context: ForwardContext = .inference) -> [Double] {
        var output = [Double](repeating: .nan, count: outputCount)
        input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                layer.forward(input: input, output: output, batch: batch, context: context)
            }
        }
        return output
    }

    /// Forward then backward of `outputGradient` from zeroed parameter gradients: the input
    /// gradient (nil when not asked for) and a copy of the parameter gradients.
    func backward(
        _ input: [Double], outputGradient: [Double], context: ForwardContext = .inference, wantInputGradient: Bool = true
    ) -> (input: [Double]?, parameters: [Double]) {
        let output = forward(input, context: context)
        store.zeroGradients()
        var inputGradient = [Double](repeating: .nan, count: inputCount)
        input.withUnsafeBufferPointer { input in
            output.withUnsafeBufferPointer { output in
                outputGradient.withUnsafeBufferPointer { outputGradient in
                    inputGradient.withUnsafeMutableBufferPointer { inputGradient in
                        layer.backward(
                            input: input, output: output, outputGradient: outputGradient,
                            inputGradient: wantInputGradient ? inputGradient : nil, batch: batch, context: context)
                    }
                }
            }
        }
        return (wantInputGradient ? inputGradient : nil, Array(store.gradients))
    }
}

/// The worst relative errors of a layer's analytic gradients against central differences.
struct GradientCheckResult {
    var input: Double
    var parameters: Double
}

/// `||a - b|| / max(||a||, ||b||)` (0 for two zero vectors).
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    let difference = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
    let scale = max(a.map { $0 * $0 }.reduce(0, +), b.map { $0 * $0 }.reduce(0, +)).squareRoot()
    return scale == 0 ? 0 : difference / scale
}

/// Checks input and parameter gradients of `layer` against central differences of the scalar
/// `L = Σ r ⊙ f(x)` for a fixed random `r`, in Float64 with step `h`.
///
/// Central differences have truncation error h² f'''/6 (~1e-12 here) and rounding error about
/// ε |L| / h (~1e-9 for |L| ~ 10), so an exact backward agrees to ~1e-8 relative; an indexing or
/// formula mistake gives errors of order 1. The tests accept 1e-6.
///
/// With `checkInput` false (an input of token ids, which has no gradient and cannot be
/// perturbed) only the parameters are checked, and `input` of the result is 0.
func checkGradients(
    _ bound: BoundLayer, input: [Double], context: ForwardContext = .inference, h: Double = 1e-6, seed: UInt64 = 99,
    checkInput: Bool = true
) -> GradientCheckResult {
    var generator = SeededGenerator(seed: seed)
    let weights = (0..<bound.outputCount).map { _ in generator.nextGaussian(Double.self) }
    func objective(_ x: [Double]) -> Double {
        zip(bound.forward(x, context: context), weights).map { $0 * $1 }.reduce(0, +)
    }
    let analytic = bound.backward(input, outputGradient: weights, context: context)

    var numericInput = [Double](repeating: 0, count: input.count)
    for index in input.indices where checkInput {
        var plus = input, minus = input
        plus[index] += h
        minus[index] -= h
        numericInput[index] = (objective(plus) - objective(minus)) / (2 * h)
    }

    let values = bound.store.values
    var numericParameters = [Double](repeating: 0, count: values.count)
    for index in 0..<values.count {
        let saved = values[index]
        values[index] = saved + h
        let plus = objective(input)
        values[index] = saved - h
        let minus = objective(input)
        values[index] = saved
        numericParameters[index] = (plus - minus) / (2 * h)
    }
    return GradientCheckResult(
        input: checkInput ? relativeError(analytic.input!, numericInput) : 0,
        parameters: relativeError(analytic.parameters, numericParameters))
}

/// Standard normal samples.
func gaussians(_ count: Int, using generator: inout SeededGenerator) -> [Double] {
    (0..<count).map { _ in generator.nextGaussian(Double.self) }
}

/// Fills every parameter with standard normal samples (a generic point, unlike an initialisation
/// such as LayerNorm's scale 1, shift 0).
func randomizeParameters(_ store: ParameterStore<Double>, using generator: inout SeededGenerator) {
    for index in 0..<store.count { store.values[index] = generator.nextGaussian(Double.self) }
}

/// `count` distinct values in [-1, 1], at least 2/count apart, in random order: pooling inputs
/// without ties, whose maxima cannot change under a perturbation of 1e-6.
func distinctValues(_ count: Int, using generator: inout SeededGenerator) -> [Double] {
    var values = (0..<count).map { -1 + 2 * Double($0) / Double(max(count - 1, 1)) }
    values.shuffle(using: &generator)
    return values
}
