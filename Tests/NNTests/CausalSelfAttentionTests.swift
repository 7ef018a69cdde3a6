import Linalg
import NN
import Testing

/// Causal self-attention: gradients, forward against plain loops, causality, Float32 against
/// Float64, and the shapes it refuses.
@Suite("Causal self-attention")
struct CausalSelfAttentionTests {
    /// A bound layer of `heads` heads on [tokens, width] at random (standard normal) parameters,
    /// with a standard normal input.
    static func randomLayer(
        batch: Int, tokens: Int, width: Int, heads: Int, queryTile: Int = 32, seed: UInt64
    ) throws -> (BoundLayer, [Double]) {
        var generator = SeededGenerator(seed: seed)
        let bound = try BoundLayer(CausalSelfAttention<Double>(heads: heads, queryTile: queryTile), inputShape: [tokens, width], batch: batch)
        randomizeParameters(bound.store, using: &generator)
        return (bound, gaussians(bound.inputCount, using: &generator))
    }

    @Test("parameters are named and shaped qkv.weight [3C, C], qkv.bias [3C], proj.weight [C, C], proj.bias [C]")
    func parameterLayout() throws {
        let bound = try BoundLayer(CausalSelfAttention<Double>(heads: 2), inputShape: [5, 8], batch: 1)
        #expect(bound.store.specs.map(\.name) == ["qkv.weight", "qkv.bias", "proj.weight", "proj.bias"])
        #expect(bound.store.specs.map(\.shape) == [[24, 8], [24], [8, 8], [8]])
        #expect(bound.outputShape == [5, 8])
    }

    /// `checkGradients` explains the 1e-6 tolerance (central differences in Float64 agree with
    /// an exact backward to ~1e-8; a wrong index or formula gives errors of order 1). Standard
    /// normal parameters make the softmax far from uniform, so its Jacobian is exercised. Query
    /// tiles smaller than the sequence (the last ones: 3 tiles of 3, 3 and 1; tiles of 2; of 1)
    /// check the tiled products' ranges, which one tile covering everything would not.
    @Test("input and parameter gradients against finite differences", arguments: [
        (2, 5, 8, 2, 32), (1, 4, 6, 3, 32), (3, 1, 4, 1, 32), (2, 6, 4, 4, 32), (2, 7, 8, 2, 3), (1, 6, 4, 2, 2), (2, 5, 6, 3, 1),
    ])
    func gradients(batch: Int, tokens: Int, width: Int, heads: Int, queryTile: Int) throws {
        let (bound, input) = try Self.randomLayer(
            batch: batch, tokens: tokens, width: width, heads: heads, queryTile: queryTile, seed: 31)
        let result = checkGradients(bound, input: input)
        #expect(result.input < 1e-6, "\(result)")
        #expect(result.parameters < 1e-6, "\(result)")
    }

    @Test("backward adds to the parameter gradients and gives the same ones without an input gradient")
    func accumulation() throws {
        let (bound, input) = try Self.randomLayer(batch: 2, tokens: 5, width: 8, heads: 2, seed: 32)
        var generator = SeededGenerator(seed: 33)
        let outputGradient = gaussians(bound.outputCount, using: &generator)
        let once = bound.backward(input, outputGradient: outputGradient)
        let parametersOnly = bound.backward(input, outputGradient: outputGradient, wantInputGradient: false)
        #expect(once.parameters == parametersOnly.parameters)
        let output = bound.forward(input)
        input.withUnsafeBufferPointer { input in
            output.withUnsafeBufferPointer { output in
                outputGradient.withUnsafeBufferPointer { outputGradient in
                    bound.layer.backward(
                        input: input, output: output, outputGradient: outputGradient, inputGradient: nil,
                        batch: bound.batch, context: .inference)
                }
            }
        }
        // The second backward adds the same values; GEMM with beta 1 folds the existing gradient
        // into its blocked sums, so the total is 2x up to rounding (~1e-16), not bit for bit.
        #expect(relativeError(Array(bound.store.gradients), once.parameters.map { 2 * $0 }) < 1e-14)
    }

    /// The layer's forward by plain loops over the defining formulas, without BLAS.
    static func referenceForward(
        input: [Double], parameters: [[Double]], batch: Int, tokens: Int, width: Int, heads: Int
    ) -> [Double] {
        let (qkvWeight, qkvBias, projectionWeight, projectionBias) = (parameters[0], parameters[1], parameters[2], parameters[3])
        let headSize = width / heads
        var output = [Double](repeating: 0, count: batch * tokens * width)
        for sample in 0..<batch {
            func x(_ token: Int, _ feature: Int) -> Double { input[(sample * tokens + token) * width + feature] }
            // qkv[t][j] = bqkv[j] + Σ_i Wqkv[j, i] x[t, i]
            var qkv = [[Double]](repeating: [Double](repeating: 0, count: 3 * width), count: tokens)
            for token in 0..<tokens {
                for column in 0..<(3 * width) {
                    var sum = qkvBias[column]
                    for feature in 0..<width { sum += qkvWeight[column * width + feature] * x(token, feature) }
                    qkv[token][column] = sum
                }
            }
            var attended = [[Double]](repeating: [Double](repeating: 0, count: width), count: tokens)
            for head in 0..<heads {
                let offset = head * headSize
                for query in 0..<tokens {
                    var scores = [Double](repeating: 0, count: query + 1)
                    for key in 0...query {
                        var dot = 0.0
                        for index in 0..<headSize { dot += qkv[query][offset + index] * qkv[key][width + offset + index] }
                        scores[key] = dot / Double(headSize).squareRoot()
                    }
                    let maximum = scores.max()!
                    let exponentials = scores.map { Double.exp($0 - maximum) }
                    let total = exponentials.reduce(0, +)
                    for index in 0..<headSize {
                        var sum = 0.0
                        for key in 0...query { sum += exponentials[key] / total * qkv[key][2 * width + offset + index] }
                        attended[query][offset + index] = sum
                    }
                }
            }
            for token in 0..<tokens {
                for feature in 0..<width {
                    var sum = projectionBias[feature]
                    for index in 0..<width { sum += projectionWeight[feature * width + index] * attended[token][index] }
                    output[(sample * tokens + token) * width + feature] = sum
                }
            }
        }
        return output
    }

    /// Same arithmetic in a different order (GEMM blocking, the softmax's division folded into a
    /// reciprocal): rounding only, ~1e-15 relative, so 1e-12 leaves room and still catches any
    /// wrong index, mask or scale.
    @Test("forward equals the formulas by plain loops", arguments: [
        (2, 5, 8, 2, 32), (3, 7, 6, 3, 32), (1, 1, 4, 4, 32), (3, 7, 6, 3, 2), (2, 9, 8, 2, 4), (1, 4, 4, 1, 1),
    ])
    func referenceForward(batch: Int, tokens: Int, width: Int, heads: Int, queryTile: Int) throws {
        let (bound, input) = try Self.randomLayer(
            batch: batch, tokens: tokens, width: width, heads: heads, queryTile: queryTile, seed: 34)
        let parameters = (0..<4).map { Array(bound.store.values(at: $0)) }
        let expected = Self.referenceForward(
            input: input, parameters: parameters, batch: batch, tokens: tokens, width: width, heads: heads)
        #expect(relativeError(bound.forward(input), expected) < 1e-12)
    }

    @Test("changing token t changes no output before t, and changes the output at t")
    func causality() throws {
        let (batch, tokens, width) = (2, 6, 8)
        let (bound, input) = try Self.randomLayer(batch: batch, tokens: tokens, width: width, heads: 2, seed: 35)
        let output = bound.forward(input)
        for token in 0..<tokens {
            var changed = input
            for sample in 0..<batch {
                for feature in 0..<width { changed[(sample * tokens + token) * width + feature] += 1 }
            }
            let changedOutput = bound.forward(changed)
            for sample in 0..<batch {
                let start = sample * tokens * width
                let before = start..<(start + token * width)
                #expect(Array(changedOutput[before]) == Array(output[before]), "token \(token), sample \(sample)")
                let at = (start + token * width)..<(start + (token + 1) * width)
                #expect(Array(changedOutput[at]) != Array(output[at]), "token \(token), sample \(sample)")
            }
        }
    }

    /// Float32 rounds each of the few chained steps (two projections, a softmax, two products of
    /// length ≤ 8) at ε ≈ 6e-8 relative; the errors grow to ~1e-6 at most, so 1e-5 catches a
    /// Float-only mistake (a wrong specialisation or precision) without flaking.
    @Test("Float32 forward agrees with Float64 at the same parameters")
    func singlePrecision() throws {
        let (batch, tokens, width, heads) = (2, 5, 8, 2)
        let (bound, input) = try Self.randomLayer(batch: batch, tokens: tokens, width: width, heads: heads, seed: 36)
        let layer = CausalSelfAttention<Float>(heads: heads)
        let tensors = layer.parameterShapes(inputShape: [tokens, width])
        let store = ParameterStore<Float>(tensors: tensors)
        layer.bind(store: store, parameterIndices: Array(tensors.indices), inputShape: [tokens, width], maxBatch: batch)
        for index in 0..<store.count { store.values[index] = Float(bound.store.values[index]) }
        let singleInput = input.map { Float($0) }
        var singleOutput = [Float](repeating: .nan, count: bound.outputCount)
        singleInput.withUnsafeBufferPointer { input in
            singleOutput.withUnsafeMutableBufferPointer { output in
                layer.forward(input: input, output: output, batch: batch, context: .inference)
            }
        }
        // Against the Float64 layer at the rounded parameters and input, so only the arithmetic differs.
        for index in 0..<bound.store.count { bound.store.values[index] = Double(store.values[index]) }
        let doubleOutput = bound.forward(singleInput.map { Double($0) })
        #expect(relativeError(singleOutput.map { Double($0) }, doubleOutput) < 1e-5)
    }

    @Test("initialisation is uniform within ±1/sqrt(width), weights and biases, and reproducible")
    func initialisation() throws {
        func initialised() throws -> [Double] {
            let bound = try BoundLayer(CausalSelfAttention<Double>(heads: 4), inputShape: [3, 16], batch: 1)
            var generator = SeededGenerator(seed: 37)
            bound.layer.initialize(store: bound.store, using: &generator)
            return Array(bound.store.values)
        }
        let values = try initialised()
        #expect(values.allSatisfy { abs($0) <= 0.25 })
        // 80% of uniform samples lie beyond a fifth of the bound (~870 of these 1088); a bound
        // several times too small leaves far fewer than 600 there.
        #expect(values.filter { abs($0) > 0.05 }.count > 600)
        #expect(try initialised() == values)
    }

    @Test("shapes it cannot take are one-line ModelErrors naming the layer", arguments: [
        [8], [5, 8, 2], [5, 7], [0, 8], [5, 0],
    ])
    func badShapes(inputShape: [Int]) throws {
        let layer = CausalSelfAttention<Double>(heads: 2)
        let error = #expect(throws: ModelError.self) { try layer.outputShape(for: inputShape) }
        guard let error, case .incompatibleInput(let name, let shape, _) = error else {
            Issue.record("expected incompatibleInput, got \(String(describing: error))")
            return
        }
        #expect(name == "attention" && shape == inputShape)
        #expect(!error.description.contains("\n") && error.description.hasPrefix("layer attention: input shape \(inputShape): "))
    }
}
