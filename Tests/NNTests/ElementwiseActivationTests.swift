import Linalg
import NN
import Testing

/// GELU's derivative kept by a training forward: the same gradient bits as recomputing it, and
/// never a stale one after a forward that kept none.
@Suite("Elementwise activations: kept derivatives")
struct ElementwiseActivationTests {
    /// Runs `layer`'s forward in `context` on `input`, then its backward of `outputGradient`.
    static func inputGradient<Scalar: LinalgScalar>(
        _ layer: GELU<Scalar>, input: [Scalar], outputGradient: [Scalar], context: ForwardContext
    ) -> [Scalar] {
        var output = [Scalar](repeating: .nan, count: input.count)
        var inputGradient = [Scalar](repeating: .nan, count: input.count)
        input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                layer.forward(input: input, output: output, batch: 1, context: context)
            }
            output.withUnsafeBufferPointer { output in
                outputGradient.withUnsafeBufferPointer { outputGradient in
                    inputGradient.withUnsafeMutableBufferPointer { inputGradient in
                        layer.backward(
                            input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient,
                            batch: 1, context: context)
                    }
                }
            }
        }
        return inputGradient
    }

    /// 40,003 elements: split over the cores (16,384 or more per worker) with a tail outside the
    /// vector lanes. Kept and recomputed derivatives come from one formula, so the products agree
    /// bit for bit; a wrong kept value, or a stale one read after an inference forward of other
    /// inputs, changes them.
    @Test("Float GELU: training backward (kept derivative) equals inference backward (recomputed), bit for bit")
    func keptEqualsRecomputed() throws {
        let count = 40_003
        var generator = SeededGenerator(seed: 41)
        let first = gaussians(count, using: &generator).map { Float(3 * $0) }
        let second = gaussians(count, using: &generator).map { Float(3 * $0) }
        let outputGradient = gaussians(count, using: &generator).map { Float($0) }
        let layer = GELU<Float>()
        layer.bind(store: ParameterStore(tensors: []), parameterIndices: [], inputShape: [count], maxBatch: 1)
        let training = ForwardContext(training: true)
        let kept = Self.inputGradient(layer, input: first, outputGradient: outputGradient, context: training)
        let recomputed = Self.inputGradient(layer, input: first, outputGradient: outputGradient, context: .inference)
        let keptIsRecomputed = kept == recomputed  // a Bool, so a failure does not print 40,003 values
        #expect(keptIsRecomputed)
        // The layer still holds the first input's derivatives; an inference pass on the second
        // must not use them.
        _ = Self.inputGradient(layer, input: first, outputGradient: outputGradient, context: training)
        let afterInference = Self.inputGradient(layer, input: second, outputGradient: outputGradient, context: .inference)
        let fresh = GELU<Float>()
        fresh.bind(store: ParameterStore(tensors: []), parameterIndices: [], inputShape: [count], maxBatch: 1)
        let freshGradient = Self.inputGradient(fresh, input: second, outputGradient: outputGradient, context: .inference)
        let (usesOwnInput, differs) = (afterInference == freshGradient, afterInference != kept)
        #expect(usesOwnInput)
        #expect(differs)
    }

    @Test("Float64 GELU in training: gradients against finite differences")
    func trainingGradients() throws {
        var generator = SeededGenerator(seed: 42)
        let bound = try BoundLayer(GELU<Double>(), inputShape: [7], batch: 3)
        let input = gaussians(bound.inputCount, using: &generator).map { 2 * $0 }
        let result = checkGradients(bound, input: input, context: ForwardContext(training: true))
        #expect(result.input < LayerGradientTests.tolerance, "\(result)")
    }
}
