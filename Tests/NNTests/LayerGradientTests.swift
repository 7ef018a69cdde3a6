import Linalg
import NN
import Testing

/// Every layer's backward (input gradient and parameter gradients) against central differences
/// in Float64; `checkGradients` explains the 1e-6 tolerance.
@Suite("Layer gradients against finite differences")
struct LayerGradientTests {
    static let tolerance = 1e-6

    /// A bound layer at random parameters with a random input.
    static func check(
        _ layer: any Layer<Double>, inputShape: [Int], batch: Int, seed: UInt64,
        input makeInput: ((Int, inout SeededGenerator) -> [Double])? = nil, context: ForwardContext = .inference
    ) throws -> GradientCheckResult {
        var generator = SeededGenerator(seed: seed)
        let bound = try BoundLayer(layer, inputShape: inputShape, batch: batch)
        randomizeParameters(bound.store, using: &generator)
        let input = makeInput?(bound.inputCount, &generator) ?? gaussians(bound.inputCount, using: &generator)
        return checkGradients(bound, input: input, context: context)
    }

    @Test("linear, on a flattened [3, 2, 2] input, batch 3")
    func linear() throws {
        let result = try Self.check(Linear<Double>(outputs: 5), inputShape: [3, 2, 2], batch: 3, seed: 1)
        #expect(result.input < Self.tolerance, "\(result)")
        #expect(result.parameters < Self.tolerance, "\(result)")
    }

    struct ConvCase: Sendable, CustomTestStringConvertible {
        var inputShape: [Int]
        var outputs: Int
        var kernel: Int
        var stride: Int
        var padding: Int
        var batch: Int
        var testDescription: String {
            "input \(inputShape), \(outputs) outputs, kernel \(kernel), stride \(stride), padding \(padding), batch \(batch)"
        }
    }

    @Test("conv2d", arguments: [
        ConvCase(inputShape: [2, 5, 7], outputs: 3, kernel: 3, stride: 1, padding: 1, batch: 2),
        ConvCase(inputShape: [2, 6, 7], outputs: 3, kernel: 3, stride: 2, padding: 1, batch: 2),
        ConvCase(inputShape: [3, 5, 4], outputs: 2, kernel: 2, stride: 1, padding: 0, batch: 3),
        ConvCase(inputShape: [1, 7, 6], outputs: 2, kernel: 3, stride: 2, padding: 0, batch: 2),
        ConvCase(inputShape: [2, 4, 5], outputs: 3, kernel: 1, stride: 1, padding: 0, batch: 2),
        ConvCase(inputShape: [2, 5, 6], outputs: 2, kernel: 1, stride: 2, padding: 1, batch: 2),
        ConvCase(inputShape: [1, 3, 3], outputs: 2, kernel: 5, stride: 1, padding: 2, batch: 2),
        // 900 and 840 outputs per channel: two images per GEMM chunk of about 2,048 columns,
        // so a batch of 3 is a full chunk and a partial one, padded and unpadded (the copy
        // without the segment walk).
        ConvCase(inputShape: [1, 30, 30], outputs: 2, kernel: 3, stride: 1, padding: 1, batch: 3),
        ConvCase(inputShape: [2, 32, 30], outputs: 2, kernel: 3, stride: 1, padding: 0, batch: 3),
    ])
    func conv2d(_ shape: ConvCase) throws {
        let layer = Conv2d<Double>(outputs: shape.outputs, kernel: shape.kernel, stride: shape.stride, padding: shape.padding)
        let result = try Self.check(layer, inputShape: shape.inputShape, batch: shape.batch, seed: 2)
        #expect(result.input < Self.tolerance, "\(result)")
        #expect(result.parameters < Self.tolerance, "\(result)")
    }

    @Test("maxpool, without ties", arguments: [(2, 2, [2, 6, 5]), (3, 2, [2, 7, 6]), (2, 1, [1, 4, 5])])
    func maxPool(kernel: Int, stride: Int, inputShape: [Int]) throws {
        let result = try Self.check(
            MaxPool2d<Double>(kernel: kernel, stride: stride), inputShape: inputShape, batch: 2, seed: 3,
            input: { count, generator in distinctValues(count, using: &generator) })
        #expect(result.input < Self.tolerance, "\(result)")
    }

    @Test("avgpool", arguments: [(2, 2, [2, 6, 5]), (3, 2, [2, 7, 6])])
    func avgPool(kernel: Int, stride: Int, inputShape: [Int]) throws {
        let result = try Self.check(AvgPool2d<Double>(kernel: kernel, stride: stride), inputShape: inputShape, batch: 2, seed: 4)
        #expect(result.input < Self.tolerance, "\(result)")
    }

    @Test("relu, with inputs away from the kink")
    func relu() throws {
        let result = try Self.check(ReLU<Double>(), inputShape: [2, 3, 2], batch: 3, seed: 5, input: { count, generator in
            // |x| >= 0.01: no perturbation of 1e-6 crosses zero.
            gaussians(count, using: &generator).map { $0 >= 0 ? $0 + 0.01 : $0 - 0.01 }
        })
        #expect(result.input < Self.tolerance, "\(result)")
    }

    @Test("gelu")
    func gelu() throws {
        let result = try Self.check(GELU<Double>(), inputShape: [7], batch: 3, seed: 6, input: { count, generator in
            gaussians(count, using: &generator).map { 2 * $0 }
        })
        #expect(result.input < Self.tolerance, "\(result)")
    }

    @Test("flatten")
    func flatten() throws {
        let result = try Self.check(Flatten<Double>(), inputShape: [2, 3, 2], batch: 2, seed: 7)
        #expect(result.input < Self.tolerance, "\(result)")
    }

    @Test("layernorm over the whole sample, random scale and shift", arguments: [[3, 4], [5], [2, 3, 2]])
    func layerNorm(inputShape: [Int]) throws {
        let result = try Self.check(LayerNorm<Double>(), inputShape: inputShape, batch: 3, seed: 8)
        #expect(result.input < Self.tolerance, "\(result)")
        #expect(result.parameters < Self.tolerance, "\(result)")
    }

    @Test("layernorm over tokens in chunks of 2 rows: 3 samples of 3 tokens make chunks of 2, 2, 2, 2 and 1")
    func layerNormInChunks() throws {
        let result = try Self.check(LayerNorm<Double>(over: .token, chunkElements: 8), inputShape: [3, 4], batch: 3, seed: 9)
        #expect(result.input < Self.tolerance, "\(result)")
        #expect(result.parameters < Self.tolerance, "\(result)")
    }

    @Test("dropout in training with a fixed context (hence a fixed mask)")
    func dropout() throws {
        let context = ForwardContext(training: true, seed: 42, step: 7, sampleIndices: [5, 9, 2], layerIndex: 3)
        let result = try Self.check(Dropout<Double>(rate: 0.4), inputShape: [4, 3], batch: 3, seed: 9, context: context)
        #expect(result.input < Self.tolerance, "\(result)")
    }

    @Test("a layer without an input gradient still accumulates its parameter gradients")
    func parameterGradientsWithoutInputGradient() throws {
        var generator = SeededGenerator(seed: 10)
        let bound = try BoundLayer(Conv2d<Double>(outputs: 2, kernel: 3, stride: 2, padding: 1), inputShape: [2, 5, 6], batch: 2)
        randomizeParameters(bound.store, using: &generator)
        let input = gaussians(bound.inputCount, using: &generator)
        let outputGradient = gaussians(bound.outputCount, using: &generator)
        let full = bound.backward(input, outputGradient: outputGradient)
        let parametersOnly = bound.backward(input, outputGradient: outputGradient, wantInputGradient: false)
        #expect(full.parameters == parametersOnly.parameters)
    }

    @Test("backward accumulates parameter gradients (+=)")
    func accumulation() throws {
        var generator = SeededGenerator(seed: 11)
        let layer = Linear<Double>(outputs: 3)
        let bound = try BoundLayer(layer, inputShape: [4], batch: 2)
        randomizeParameters(bound.store, using: &generator)
        let input = gaussians(bound.inputCount, using: &generator)
        let outputGradient = gaussians(bound.outputCount, using: &generator)
        let once = bound.backward(input, outputGradient: outputGradient).parameters
        let output = bound.forward(input)
        input.withUnsafeBufferPointer { input in
            output.withUnsafeBufferPointer { output in
                outputGradient.withUnsafeBufferPointer { outputGradient in
                    layer.backward(
                        input: input, output: output, outputGradient: outputGradient, inputGradient: nil, batch: 2, context: .inference)
                }
            }
        }
        #expect(relativeError(Array(bound.store.gradients), once.map { 2 * $0 }) < 1e-15)
    }
}
