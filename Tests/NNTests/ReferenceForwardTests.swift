import Linalg
import NN
import Testing

/// Forward passes against direct loops over the defining formulas, in Float64.
@Suite("Forward passes against naive references")
struct ReferenceForwardTests {
    @Test("conv2d equals the 7-loop convolution", arguments: [
        ([2, 5, 7], 3, 3, 1, 1), ([3, 8, 6], 4, 3, 2, 1), ([2, 6, 5], 2, 2, 2, 0), ([2, 4, 4], 3, 1, 1, 0), ([1, 5, 5], 2, 4, 3, 2),
        ([1, 30, 30], 2, 3, 1, 1), ([2, 32, 30], 2, 3, 1, 0),  // two images per GEMM chunk: chunks of 2 and 1 for the batch of 3
    ])
    func conv2d(inputShape: [Int], outputs: Int, kernel: Int, stride: Int, padding: Int) throws {
        var generator = SeededGenerator(seed: 21)
        let batch = 3
        let bound = try BoundLayer(
            Conv2d<Double>(outputs: outputs, kernel: kernel, stride: stride, padding: padding), inputShape: inputShape, batch: batch)
        randomizeParameters(bound.store, using: &generator)
        let input = gaussians(bound.inputCount, using: &generator)
        let output = bound.forward(input)

        let (channels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        let (outputHeight, outputWidth) = (bound.outputShape[1], bound.outputShape[2])
        #expect(outputHeight == (height + 2 * padding - kernel) / stride + 1)
        #expect(outputWidth == (width + 2 * padding - kernel) / stride + 1)
        let weight = Array(bound.store.values(at: 0))
        let bias = Array(bound.store.values(at: 1))
        var expected = [Double](repeating: 0, count: bound.outputCount)
        for sample in 0..<batch {
            for channel in 0..<outputs {
                for row in 0..<outputHeight {
                    for column in 0..<outputWidth {
                        var sum = bias[channel]
                        for inputChannel in 0..<channels {
                            for kernelRow in 0..<kernel {
                                for kernelColumn in 0..<kernel {
                                    let inputRow = row * stride - padding + kernelRow
                                    let inputColumn = column * stride - padding + kernelColumn
                                    guard (0..<height).contains(inputRow), (0..<width).contains(inputColumn) else { continue }
                                    let x = input[((sample * channels + inputChannel) * height + inputRow) * width + inputColumn]
                                    let w = weight[((channel * channels + inputChannel) * kernel + kernelRow) * kernel + kernelColumn]
                                    sum += w * x
                                }
                            }
                        }
                        expected[((sample * outputs + channel) * outputHeight + row) * outputWidth + column] = sum
                    }
                }
            }
        }
        // Same products, different summation order (GEMM blocking): rounding only, ~1e-15.
        #expect(relativeError(output, expected) < 1e-13)
    }

    @Test("linear equals Y = X W^T + b by loops")
    func linear() throws {
        var generator = SeededGenerator(seed: 22)
        let (batch, inputs, outputs) = (4, 6, 5)
        let bound = try BoundLayer(Linear<Double>(outputs: outputs), inputShape: [2, 3], batch: batch)
        randomizeParameters(bound.store, using: &generator)
        let input = gaussians(bound.inputCount, using: &generator)
        let output = bound.forward(input)
        let weight = Array(bound.store.values(at: 0))
        let bias = Array(bound.store.values(at: 1))
        #expect(bound.store.specs.map(\.shape) == [[outputs, inputs], [outputs]])
        var expected = [Double](repeating: 0, count: batch * outputs)
        for sample in 0..<batch {
            for feature in 0..<outputs {
                var sum = bias[feature]
                for index in 0..<inputs { sum += input[sample * inputs + index] * weight[feature * inputs + index] }
                expected[sample * outputs + feature] = sum
            }
        }
        #expect(relativeError(output, expected) < 1e-13)
    }

    @Test("pooling equals window maxima and means; output size rounds down")
    func pooling() throws {
        var generator = SeededGenerator(seed: 23)
        let inputShape = [2, 5, 7]
        let maxPool = try BoundLayer(MaxPool2d<Double>(kernel: 2), inputShape: inputShape, batch: 2)
        let avgPool = try BoundLayer(AvgPool2d<Double>(kernel: 3, stride: 2), inputShape: inputShape, batch: 2)
        #expect(maxPool.outputShape == [2, 2, 3])
        #expect(avgPool.outputShape == [2, 2, 3])
        let input = gaussians(maxPool.inputCount, using: &generator)
        func window(_ sample: Int, _ channel: Int, _ row: Int, _ column: Int, kernel: Int, stride: Int) -> [Double] {
            var values: [Double] = []
            for kernelRow in 0..<kernel {
                for kernelColumn in 0..<kernel {
                    values.append(input[((sample * 2 + channel) * 5 + row * stride + kernelRow) * 7 + column * stride + kernelColumn])
                }
            }
            return values
        }
        var expectedMax: [Double] = []
        var expectedMean: [Double] = []
        for sample in 0..<2 {
            for channel in 0..<2 {
                for row in 0..<2 {
                    for column in 0..<3 {
                        expectedMax.append(window(sample, channel, row, column, kernel: 2, stride: 2).max()!)
                        expectedMean.append(window(sample, channel, row, column, kernel: 3, stride: 2).reduce(0, +) / 9)
                    }
                }
            }
        }
        #expect(maxPool.forward(input) == expectedMax)
        #expect(relativeError(avgPool.forward(input), expectedMean) < 1e-15)
    }

    @Test("gelu matches the tanh approximation at known points")
    func gelu() throws {
        let bound = try BoundLayer(GELU<Double>(), inputShape: [4], batch: 1)
        let output = bound.forward([1, -1, 2.5, -3])
        // Values of 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) from Python's math module.
        let expected = [0.8411919906082768, -0.15880800939172324, 2.484915733910001, -0.0036373920817729943]
        #expect(relativeError(output, expected) < 1e-14)
    }

    @Test("layernorm with its initial scale 1 and shift 0 gives mean 0 and variance 1 per sample")
    func layerNorm() throws {
        var generator = SeededGenerator(seed: 24)
        let layer = LayerNorm<Double>()
        let bound = try BoundLayer(layer, inputShape: [3, 5], batch: 2)
        layer.initialize(store: bound.store, using: &generator)
        let input = gaussians(bound.inputCount, using: &generator).map { 3 + 2 * $0 }
        let output = bound.forward(input)
        for sample in 0..<2 {
            let values = output[(sample * 15)..<((sample + 1) * 15)]
            let mean = values.reduce(0, +) / 15
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 15
            #expect(abs(mean) < 1e-14)
            // The variance is var / (var + 1e-5) with var ~ 4.
            #expect(abs(variance - 1) < 1e-5)
        }
    }

    @Test("relu and flatten")
    func elementwise() throws {
        let relu = try BoundLayer(ReLU<Double>(), inputShape: [2, 2], batch: 1)
        #expect(relu.forward([-1, 2, 0, -0.5]) == [0, 2, 0, 0])
        let flatten = try BoundLayer(Flatten<Double>(), inputShape: [2, 1, 2], batch: 2)
        #expect(flatten.outputShape == [4])
        #expect(flatten.forward([1, 2, 3, 4, 5, 6, 7, 8]) == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test("initialisation follows PyTorch: uniform in ±1/sqrt(fan-in); layernorm 1 and 0")
    func initialization() throws {
        let model = try Sequential<Double>(
            inputShape: [3, 8, 8],
            layers: [Conv2d(outputs: 16, kernel: 3), Flatten(), LayerNorm(), Linear(outputs: 50)], maxBatch: 1)
        model.initialize(seed: 5)
        let store = model.parameters
        func tensor(_ name: String) -> [Double] { Array(store.values(at: store.index(of: name)!)) }
        for (name, fanIn) in [("0_conv2d.weight", 27), ("0_conv2d.bias", 27), ("3_linear.weight", 576), ("3_linear.bias", 576)] {
            let values = tensor(name)
            let bound = 1 / Double(fanIn).squareRoot()
            #expect(values.allSatisfy { abs($0) <= bound }, "\(name)")
            // Uniform on [-bound, bound): the largest magnitude of many draws comes close to it.
            #expect(values.map(abs).max()! > 0.5 * bound, "\(name)")
        }
        #expect(tensor("2_layernorm.scale").allSatisfy { $0 == 1 })
        #expect(tensor("2_layernorm.shift").allSatisfy { $0 == 0 })
        let again = try Sequential<Double>(
            inputShape: [3, 8, 8],
            layers: [Conv2d(outputs: 16, kernel: 3), Flatten(), LayerNorm(), Linear(outputs: 50)], maxBatch: 1)
        again.initialize(seed: 5)
        #expect(Array(again.parameters.values) == Array(store.values))
    }
}

/// Float32 max pooling with 2 x 2 windows at stride 2 (computed four outputs at a time in SIMD
/// lanes) against the definition, ties included.
@Suite("Max pooling in SIMD lanes")
struct MaxPoolLanesTests {
    @Test("2 x 2 windows at stride 2: each output the window's maximum, its gradient routed to the first maximum in row-major order",
          arguments: [[3, 11, 14], [2, 8, 8], [1, 5, 3]])
    func matchesDefinition(inputShape: [Int]) throws {
        let (channels, height, width, batch) = (inputShape[0], inputShape[1], inputShape[2], 2)
        let layer = MaxPool2d<Float>(kernel: 2)
        layer.bind(store: ParameterStore<Float>(tensors: []), parameterIndices: [], inputShape: inputShape, maxBatch: batch)
        let (outputHeight, outputWidth) = (height / 2, width / 2)
        let (inputCount, outputCount) = (channels * height * width, channels * outputHeight * outputWidth)
        var generator = SeededGenerator(seed: 71)
        // Four levels only, so many windows hold ties.
        let input = (0..<(batch * inputCount)).map { _ in Float(Int(generator.next() % 4)) - 1.5 }
        let outputGradient = (0..<(batch * outputCount)).map { Float($0 + 1) }
        var output = [Float](repeating: .nan, count: batch * outputCount)
        var inputGradient = [Float](repeating: .nan, count: batch * inputCount)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { layer.forward(input: x, output: $0, batch: batch, context: .inference) }
            outputGradient.withUnsafeBufferPointer { dy in
                inputGradient.withUnsafeMutableBufferPointer { layer.backward(input: x, outputGradient: dy, into: $0, batch: batch, context: .inference) }
            }
        }
        var expectedOutput = [Float](repeating: 0, count: batch * outputCount)
        var expectedGradient = [Float](repeating: 0, count: batch * inputCount)
        for sample in 0..<batch {
            for channel in 0..<channels {
                for row in 0..<outputHeight {
                    for column in 0..<outputWidth {
                        let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { offset in
                            sample * inputCount + (channel * height + 2 * row + offset.0) * width + 2 * column + offset.1
                        }
                        let first = window.first { input[$0] == window.map { input[$0] }.max()! }!
                        let outputIndex = sample * outputCount + (channel * outputHeight + row) * outputWidth + column
                        expectedOutput[outputIndex] = input[first]
                        expectedGradient[first] += outputGradient[outputIndex]
                    }
                }
            }
        }
        // Selection and sums of distinct small integers: exact.
        #expect(output == expectedOutput)
        #expect(inputGradient == expectedGradient)
    }
}
