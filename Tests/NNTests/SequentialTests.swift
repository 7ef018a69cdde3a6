import Linalg
import NN
import Testing

@Suite("Sequential models")
struct SequentialTests {
    /// conv -> relu -> maxpool -> flatten -> linear on [2, 6, 8] images, 4 classes.
    static func convolutionalModel<Scalar: LinalgScalar>(_: Scalar.Type, maxBatch: Int) throws -> Sequential<Scalar> {
        try Sequential<Scalar>(
            inputShape: [2, 6, 8],
            layers: [Conv2d(outputs: 3, kernel: 3, padding: 1), ReLU(), MaxPool2d(kernel: 2), Flatten(), Linear(outputs: 4)],
            maxBatch: maxBatch)
    }

    /// The summed loss, and its gradient with respect to every parameter by backpropagation.
    static func lossAndGradient(
        _ model: Sequential<Double>, input: [Double], labels: [Int32], context: ForwardContext
    ) -> (loss: Double, gradient: [Double]) {
        let loss = SoftmaxCrossEntropy<Double>()
        let batch = labels.count
        let classes = model.outputCount
        var logitGradient = [Double](repeating: 0, count: batch * classes)
        let lossSum = input.withUnsafeBufferPointer { input in
            labels.withUnsafeBufferPointer { labels in
                let logits = model.forward(input: input, batch: batch, context: context)
                let result = loss.forward(logits: logits, labels: labels, batch: batch, classes: classes)
                logitGradient.withUnsafeMutableBufferPointer { gradient in
                    loss.backward(logits: logits, labels: labels, batch: batch, classes: classes, scale: 1, into: gradient)
                }
                model.parameters.zeroGradients()
                logitGradient.withUnsafeBufferPointer { gradient in
                    model.backward(input: input, outputGradient: gradient, batch: batch, context: context)
                }
                return result.lossSum
            }
        }
        return (lossSum, Array(model.parameters.gradients))
    }

    /// Central differences of the summed loss over every parameter (see checkGradients for h).
    static func numericGradient(
        _ model: Sequential<Double>, input: [Double], labels: [Int32], context: ForwardContext, h: Double = 1e-6
    ) -> [Double] {
        let values = model.parameters.values
        return (0..<values.count).map { index in
            let saved = values[index]
            values[index] = saved + h
            let plus = lossAndGradient(model, input: input, labels: labels, context: context).loss
            values[index] = saved - h
            let minus = lossAndGradient(model, input: input, labels: labels, context: context).loss
            values[index] = saved
            return (plus - minus) / (2 * h)
        }
    }

    @Test("conv -> relu -> maxpool -> flatten -> linear: parameter gradients match finite differences")
    func endToEndGradient() throws {
        var generator = SeededGenerator(seed: 41)
        let model = try Self.convolutionalModel(Double.self, maxBatch: 3)
        model.initialize(seed: 1)
        let input = gaussians(3 * model.inputCount, using: &generator)
        let labels: [Int32] = [0, 3, 2]
        let analytic = Self.lossAndGradient(model, input: input, labels: labels, context: .inference).gradient
        let numeric = Self.numericGradient(model, input: input, labels: labels, context: .inference)
        // Tolerance as for single layers (checkGradients); no pre-activation or pooling window of
        // this draw is within h of a kink (a crossing would show as an O(1) error in one entry).
        #expect(relativeError(analytic, numeric) < 1e-6, "\(relativeError(analytic, numeric))")
    }

    @Test("conv -> gelu -> avgpool -> flatten -> layernorm -> dropout -> linear in training: gradients match")
    func endToEndGradientWithDropout() throws {
        var generator = SeededGenerator(seed: 42)
        let model = try Sequential<Double>(
            inputShape: [1, 7, 5],
            layers: [
                Conv2d(outputs: 2, kernel: 3, stride: 2, padding: 1), GELU(), AvgPool2d(kernel: 2, stride: 1),
                Flatten(), LayerNorm(), Dropout(rate: 0.3), Linear(outputs: 3),
            ],
            maxBatch: 2)
        model.initialize(seed: 2)
        randomizeParameters(model.parameters, using: &generator)
        let input = gaussians(2 * model.inputCount, using: &generator)
        let context = ForwardContext(training: true, seed: 7, step: 3, sampleIndices: [11, 4])
        let labels: [Int32] = [2, 0]
        let analytic = Self.lossAndGradient(model, input: input, labels: labels, context: context).gradient
        let numeric = Self.numericGradient(model, input: input, labels: labels, context: context)
        #expect(relativeError(analytic, numeric) < 1e-6, "\(relativeError(analytic, numeric))")
    }

    @Test("forward twice with the same context is bit-identical, and backward too")
    func determinism() throws {
        var generator = SeededGenerator(seed: 43)
        let model = try Sequential<Float>(
            inputShape: [1, 6, 6],
            layers: [Conv2d(outputs: 4, kernel: 3, padding: 1), ReLU(), Flatten(), Dropout(rate: 0.5), Linear(outputs: 3)],
            maxBatch: 4)
        model.initialize(seed: 3)
        let input = (0..<(4 * model.inputCount)).map { _ in generator.nextGaussian(Float.self) }
        let context = ForwardContext(training: true, seed: 1, step: 10, sampleIndices: [3, 1, 4, 1])
        func run() -> (output: [Float], gradient: [Float]) {
            input.withUnsafeBufferPointer { input in
                let output = Array(model.forward(input: input, batch: 4, context: context))
                model.parameters.zeroGradients()
                let outputGradient = [Float](repeating: 0.25, count: output.count)
                outputGradient.withUnsafeBufferPointer { gradient in
                    model.backward(input: input, outputGradient: gradient, batch: 4, context: context)
                }
                return (output, Array(model.parameters.gradients))
            }
        }
        let first = run()
        let second = run()
        #expect(first.output.map(\.bitPattern) == second.output.map(\.bitPattern))
        #expect(first.gradient.map(\.bitPattern) == second.gradient.map(\.bitPattern))
    }

    @Test("a smaller batch gives the same rows as the same samples in a full batch")
    func partialBatch() throws {
        var generator = SeededGenerator(seed: 44)
        let model = try Self.convolutionalModel(Double.self, maxBatch: 5)
        model.initialize(seed: 4)
        let input = gaussians(5 * model.inputCount, using: &generator)
        let full = input.withUnsafeBufferPointer { Array(model.forward(input: $0, batch: 5, context: .inference)) }
        let part = input.withUnsafeBufferPointer { Array(model.forward(input: $0, batch: 2, context: .inference)) }
        #expect(part.count == 2 * model.outputCount)
        #expect(relativeError(part, Array(full.prefix(2 * model.outputCount))) < 1e-15)
    }

    @Test("parameters are named by layer index and kind, at consecutive offsets")
    func parameterNames() throws {
        let model = try Self.convolutionalModel(Float.self, maxBatch: 2)
        let specs = model.parameters.specs
        #expect(specs.map(\.name) == ["0_conv2d.weight", "0_conv2d.bias", "4_linear.weight", "4_linear.bias"])
        #expect(specs.map(\.shape) == [[3, 2, 3, 3], [3], [4, 36], [4]])
        #expect(specs.map(\.offset) == [0, 54, 57, 201])
        #expect(model.parameters.count == 205)
        #expect(specs[0].matrixShape! == (3, 18))
        #expect(specs[1].matrixShape == nil)
        #expect(model.parameters.index(of: "4_linear.weight") == 2)
        #expect(model.parameters.index(of: "4_linear.scale") == nil)
        #expect(model.layerOutputShapes == [[3, 6, 8], [3, 6, 8], [3, 3, 4], [36], [4]])
        #expect(model.outputShape == [4])
        #expect(model.outputCount == 4)
        #expect(model.parameterIndices == [[0, 1], [], [], [], [2, 3]])
        let view = model.parameters.values(at: 2)
        #expect(view.count == 144)
        #expect(view.baseAddress == model.parameters.values.baseAddress! + 57)
    }

    @Test("the summary lists every layer, its output shape and parameter count")
    func summary() throws {
        let model = try Self.convolutionalModel(Float.self, maxBatch: 2)
        let lines = model.summary.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines == [
            "layer output shape parameters",
            "input [2, 6, 8]",
            "0_conv2d [3, 6, 8] 57",
            "1_relu [3, 6, 8] 0",
            "2_maxpool [3, 3, 4] 0",
            "3_flatten [36] 0",
            "4_linear [4] 148",
            "total 205",
        ])
    }

    @Test("a shape a layer cannot take is an error naming the layer")
    func shapeErrors() {
        #expect(throws: ModelError.incompatibleInput(layer: "1_conv2d", inputShape: [784], reason: "needs a [channels, height, width] image")) {
            try Sequential<Float>(inputShape: [784], layers: [ReLU(), Conv2d(outputs: 2, kernel: 3)], maxBatch: 1)
        }
        do {
            _ = try Sequential<Float>(inputShape: [1, 4, 4], layers: [Conv2d(outputs: 2, kernel: 3), MaxPool2d(kernel: 3)], maxBatch: 1)
            Issue.record("a 3x3 pool on a 2x2 image was accepted")
        } catch {
            #expect(error.description == "layer 1_maxpool: input shape [2, 2, 2]: kernel 3 is larger than the padded image 2 x 2")
        }
        #expect(throws: ModelError.invalidInputShape([0, 3])) {
            try Sequential<Float>(inputShape: [0, 3], layers: [ReLU()], maxBatch: 1)
        }
        #expect(throws: ModelError.invalidMaxBatch(0)) {
            try Sequential<Float>(inputShape: [3], layers: [ReLU()], maxBatch: 0)
        }
        #expect(throws: ModelError.noLayers) {
            try Sequential<Float>(inputShape: [3], layers: [], maxBatch: 1)
        }
    }

    @Test("a parameter-free first layer (asked for no input gradient) passes the gradients behind it through")
    func parameterFreeFirstLayer() throws {
        var generator = SeededGenerator(seed: 47)
        let withPooling = try Sequential<Double>(
            inputShape: [1, 4, 4], layers: [MaxPool2d(kernel: 2), Flatten(), Linear(outputs: 3)], maxBatch: 2)
        let withoutPooling = try Sequential<Double>(inputShape: [1, 2, 2], layers: [Flatten(), Linear(outputs: 3)], maxBatch: 2)
        withPooling.initialize(seed: 3)
        withoutPooling.initialize(seed: 3)
        let input = gaussians(2 * 16, using: &generator)
        // The maxima of the four 2 x 2 windows of each 4 x 4 image.
        var pooledInput: [Double] = []
        for sample in 0..<2 {
            for corner in [0, 2, 8, 10] {
                let start = sample * 16 + corner
                pooledInput.append(max(input[start], input[start + 1], input[start + 4], input[start + 5]))
            }
        }
        let labels: [Int32] = [2, 0]
        let gradient = Self.lossAndGradient(withPooling, input: input, labels: labels, context: .inference).gradient
        let expected = Self.lossAndGradient(withoutPooling, input: pooledInput, labels: labels, context: .inference).gradient
        // The same operations on the same values (max pooling only selects): exactly equal.
        #expect(gradient == expected)
    }

    @Test("backward stops at the first layer with parameters, which gets no input gradient to compute")
    func noWorkUpstreamOfTheFirstTrainedLayer() throws {
        var generator = SeededGenerator(seed: 53)
        let (batch, hidden) = (4, 6)
        let first = RecordingLayer(Linear<Double>(outputs: hidden))
        let second = RecordingLayer(Linear<Double>(outputs: 3))
        let upstream = RecordingLayer(ReLU<Double>())
        let model = try Sequential<Double>(
            inputShape: [1, 3, 4], layers: [upstream, Flatten(), first, ReLU(), second], maxBatch: batch)
        model.initialize(seed: 5)
        let input = gaussians(batch * 12, using: &generator)
        let labels: [Int32] = [0, 2, 1, 2]
        let gradient = Self.lossAndGradient(model, input: input, labels: labels, context: .inference).gradient
        #expect(upstream.backwardCalls == 0)
        #expect(first.backwardCalls == 1 && first.askedForInputGradient == false)
        #expect(second.backwardCalls == 1 && second.askedForInputGradient == true)
        let numeric = Self.numericGradient(model, input: input, labels: labels, context: .inference)
        // Central differences with h = 1e-6 in Float64: truncation and rounding below 1e-6.
        for (analytic, estimate) in zip(gradient, numeric) { #expect(abs(analytic - estimate) <= 1e-6 * max(1, abs(estimate))) }
    }

    @Test("Float32 and Float64 models built from the same specs and seed agree")
    func precisionAgreement() throws {
        let specs: [LayerSpec] = [
            .conv2d(outputs: 4, kernel: 3, stride: 1, padding: 1), .relu, .maxPool(kernel: 2, stride: 2),
            .flatten, .layerNorm(epsilon: 1e-5), .linear(outputs: 10),
        ]
        let single = try Sequential<Float>.build(inputShape: [1, 8, 8], specs: specs, maxBatch: 2)
        let double = try Sequential<Double>.build(inputShape: [1, 8, 8], specs: specs, maxBatch: 2)
        single.initialize(seed: 9)
        double.initialize(seed: 9)
        var generator = SeededGenerator(seed: 45)
        let input = gaussians(2 * 64, using: &generator)
        let singleOutput = input.map(Float.init).withUnsafeBufferPointer {
            single.forward(input: $0, batch: 2, context: .inference).map(Double.init)
        }
        let doubleOutput = input.withUnsafeBufferPointer { Array(double.forward(input: $0, batch: 2, context: .inference)) }
        // Float32 rounding through five layers: ~1e-6 relative.
        #expect(relativeError(singleOutput, doubleOutput) < 1e-5)
    }
}

/// A layer that forwards to another and records how backward was called.
final class RecordingLayer<Scalar: LinalgScalar>: Layer {
    let wrapped: any Layer<Scalar>
    private(set) var backwardCalls = 0
    private(set) var askedForInputGradient: Bool?

    init(_ wrapped: any Layer<Scalar>) { self.wrapped = wrapped }

    var kind: String { wrapped.kind }
    func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] { try wrapped.outputShape(for: inputShape) }
    func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] { wrapped.parameterShapes(inputShape: inputShape) }
    func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        wrapped.bind(store: store, parameterIndices: parameterIndices, inputShape: inputShape, maxBatch: maxBatch)
    }
    func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) { wrapped.initialize(store: store, using: &generator) }
    func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        wrapped.forward(input: input, output: output, batch: batch, context: context)
    }
    func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        backwardCalls += 1
        askedForInputGradient = inputGradient != nil
        wrapped.backward(input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient, batch: batch, context: context)
    }
}
