import Linalg
import NN
import Testing

/// A number with its derivative along one direction (forward-mode differentiation): the
/// reference model below, run once per parameter with that parameter's derivative 1, gives each
/// gradient component exactly up to rounding, by the chain rule alone, without any of the
/// backward formulas under test.
struct Dual {
    var value: Double
    var derivative: Double

    init(_ value: Double, derivative: Double = 0) {
        self.value = value
        self.derivative = derivative
    }

    static func + (a: Dual, b: Dual) -> Dual { Dual(a.value + b.value, derivative: a.derivative + b.derivative) }
    static func - (a: Dual, b: Dual) -> Dual { Dual(a.value - b.value, derivative: a.derivative - b.derivative) }
    static func * (a: Dual, b: Dual) -> Dual {
        Dual(a.value * b.value, derivative: a.derivative * b.value + a.value * b.derivative)
    }
    static func / (a: Dual, b: Dual) -> Dual {
        Dual(a.value / b.value, derivative: (a.derivative * b.value - a.value * b.derivative) / (b.value * b.value))
    }
    static func += (a: inout Dual, b: Dual) { a = a + b }

    func exp() -> Dual {
        let e = Double.exp(value)
        return Dual(e, derivative: e * derivative)
    }
    func log() -> Dual { Dual(Double.log(value), derivative: derivative / value) }
    func squareRoot() -> Dual {
        let root = value.squareRoot()
        return Dual(root, derivative: derivative / (2 * root))
    }
    func tanh() -> Dual {
        let t = Double.tanh(value)
        return Dual(t, derivative: (1 - t * t) * derivative)
    }
}

/// The 1-block GPT of `LayerSpec.transformer(..., blocks: 1, ...)` written out with plain loops
/// over nested arrays, from the textbook definitions (GELU in its tanh form, attention with an
/// explicit causal loop), sharing no code with the layers.
struct ReferenceGPT {
    let vocabulary: Int, tokens: Int, width: Int, heads: Int, mlpRatio: Int, tied: Bool
    /// A parameter tensor by name (as the model names it), flat row-major.
    let parameter: (String) -> [Dual]

    typealias Matrix = [[Dual]]

    /// y[t] = b + W x[t], W [outputs][inputs] row-major.
    func linear(_ x: Matrix, _ weightName: String, _ biasName: String?, outputs: Int) -> Matrix {
        let weight = parameter(weightName)
        let bias = biasName.map(parameter)
        let inputs = x[0].count
        return x.map { row in
            (0..<outputs).map { o in
                var sum = bias?[o] ?? Dual(0)
                for i in 0..<inputs { sum += weight[o * inputs + i] * row[i] }
                return sum
            }
        }
    }

    func layerNorm(_ x: Matrix, _ prefix: String) -> Matrix {
        let (scale, shift) = (parameter(prefix + ".scale"), parameter(prefix + ".shift"))
        return x.map { row in
            let n = Dual(Double(row.count))
            var mean = Dual(0)
            for value in row { mean += value }
            mean = mean / n
            var variance = Dual(0)
            for value in row { variance += (value - mean) * (value - mean) }
            let deviation = (variance / n + Dual(1e-5)).squareRoot()
            return row.indices.map { (row[$0] - mean) / deviation * scale[$0] + shift[$0] }
        }
    }

    func gelu(_ x: Dual) -> Dual {
        let u = Dual((2 / Double.pi).squareRoot()) * (x + Dual(0.044715) * x * x * x)
        return Dual(0.5) * x * (Dual(1) + u.tanh())
    }

    func attention(_ x: Matrix, _ prefix: String) -> Matrix {
        let qkv = linear(x, prefix + ".qkv.weight", prefix + ".qkv.bias", outputs: 3 * width)
        let size = width / heads
        var attended = Matrix(repeating: [Dual](repeating: Dual(0), count: width), count: tokens)
        for head in 0..<heads {
            for t in 0..<tokens {
                var scores: [Dual] = []
                for j in 0...t {
                    var dot = Dual(0)
                    for d in 0..<size { dot += qkv[t][head * size + d] * qkv[j][width + head * size + d] }
                    scores.append(dot / Dual(Double(size).squareRoot()))
                }
                let largest = Dual(scores.map(\.value).max()!)
                let exponentials = scores.map { ($0 - largest).exp() }
                var total = Dual(0)
                for e in exponentials { total += e }
                for j in 0...t {
                    for d in 0..<size {
                        attended[t][head * size + d] += exponentials[j] / total * qkv[j][2 * width + head * size + d]
                    }
                }
            }
        }
        return linear(attended, prefix + ".proj.weight", prefix + ".proj.bias", outputs: width)
    }

    /// The mean cross-entropy over every (sample, token) of predicting `targets` from `ids`.
    func meanLoss(ids: [[Int]], targets: [[Int]]) -> Dual {
        let (embedding, positions) = (parameter("0_embedding.weight"), parameter("1_positions.weight"))
        var total = Dual(0)
        for (sampleIDs, sampleTargets) in zip(ids, targets) {
            let x = (0..<tokens).map { t in (0..<width).map { embedding[sampleIDs[t] * width + $0] + positions[t * width + $0] } }
            let attended = attention(layerNorm(x, "2_block.ln1"), "2_block.attn")
            let x1 = (0..<tokens).map { t in (0..<width).map { x[t][$0] + attended[t][$0] } }
            let hidden = linear(layerNorm(x1, "2_block.ln2"), "2_block.mlp.fc.weight", "2_block.mlp.fc.bias", outputs: mlpRatio * width)
            let projected = linear(hidden.map { $0.map(gelu) }, "2_block.mlp.proj.weight", "2_block.mlp.proj.bias", outputs: width)
            let y = (0..<tokens).map { t in (0..<width).map { x1[t][$0] + projected[t][$0] } }
            let normalized = layerNorm(y, "3_layernorm")
            let logits = tied
                ? linear(normalized, "0_embedding.weight", nil, outputs: vocabulary)
                : linear(normalized, "4_linear.weight", "4_linear.bias", outputs: vocabulary)
            for t in 0..<tokens {
                let largest = Dual(logits[t].map(\.value).max()!)
                var sum = Dual(0)
                for logit in logits[t] { sum += (logit - largest).exp() }
                total += largest + sum.log() - logits[t][sampleTargets[t]]
            }
        }
        return total / Dual(Double(ids.count * tokens))
    }
}

/// The whole model: a 1-block GPT built from specs against the independent reference, its
/// causality, and Float32 against Float64.
@Suite("Transformer model")
struct TransformerModelTests {
    static let (vocabulary, tokens, width, heads, mlpRatio, batch) = (7, 5, 8, 2, 4, 2)

    /// The model at parameters of half a standard normal (far from the initialisation's near-zero
    /// embeddings, so every path carries a gradient of order 1), and ids and targets.
    static func model(tied: Bool, seed: UInt64) throws -> (Sequential<Double>, ids: [[Int]], targets: [[Int]]) {
        let specs = LayerSpec.transformer(vocabulary: vocabulary, blocks: 1, width: width, heads: heads, mlpRatio: mlpRatio, tiedHead: tied)
        let model = try Sequential<Double>.build(inputShape: [tokens], specs: specs, maxBatch: batch)
        var generator = SeededGenerator(seed: seed)
        for index in 0..<model.parameters.count { model.parameters.values[index] = 0.5 * generator.nextGaussian(Double.self) }
        func sequence() -> [Int] { (0..<tokens).map { _ in Int(generator.next() % UInt64(vocabulary)) } }
        return (model, (0..<batch).map { _ in sequence() }, (0..<batch).map { _ in sequence() })
    }

    /// The mean loss over batch x tokens positions and its gradient by the model's backward.
    static func lossAndGradient(_ model: Sequential<Double>, ids: [[Int]], targets: [[Int]]) -> (loss: Double, gradient: [Double]) {
        let input = ids.flatMap { $0.map(Double.init) }
        let labels = targets.flatMap { $0.map(Int32.init) }
        let rows = labels.count
        let loss = SoftmaxCrossEntropy<Double>()
        var logitGradient = [Double](repeating: 0, count: rows * vocabulary)
        let lossSum = input.withUnsafeBufferPointer { input in
            labels.withUnsafeBufferPointer { labels in
                let logits = model.forward(input: input, batch: ids.count, context: .inference)
                let lossSum = loss.forward(logits: logits, labels: labels, batch: rows, classes: vocabulary).lossSum
                logitGradient.withUnsafeMutableBufferPointer {
                    loss.backward(logits: logits, labels: labels, batch: rows, classes: vocabulary, scale: 1 / Double(rows), into: $0)
                }
                model.parameters.zeroGradients()
                logitGradient.withUnsafeBufferPointer { model.backward(input: input, outputGradient: $0, batch: ids.count, context: .inference) }
                return lossSum
            }
        }
        return (lossSum / Double(rows), Array(model.parameters.gradients))
    }

    /// Forward-mode differentiation is exact up to rounding, and both sides sum a few hundred
    /// products of values of order 1 in Float64 in different orders (BLAS blocking, the
    /// softmax's shift): differences of ~1e-14 relative; 1e-9 leaves a wide margin while a
    /// wrong index, a missing accumulation or a dropped term gives errors of order 1e-2 or more.
    @Test("loss and every parameter gradient equal an independent plain-loop Float64 reference", arguments: [false, true])
    func againstReference(tied: Bool) throws {
        let (model, ids, targets) = try Self.model(tied: tied, seed: tied ? 61 : 62)
        let names = model.parameters.specs.map(\.name)
        let expectedNames = ["0_embedding.weight", "1_positions.weight"]
            + ["ln1.scale", "ln1.shift", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
               "ln2.scale", "ln2.shift", "mlp.fc.weight", "mlp.fc.bias", "mlp.proj.weight", "mlp.proj.bias"].map { "2_block." + $0 }
            + ["3_layernorm.scale", "3_layernorm.shift"] + (tied ? [] : ["4_linear.weight", "4_linear.bias"])
        #expect(names == expectedNames)
        let (loss, gradient) = Self.lossAndGradient(model, ids: ids, targets: targets)

        let values = Array(model.parameters.values)
        let specs = model.parameters.specs
        func reference(seeding seeded: Int?) -> Dual {
            let gpt = ReferenceGPT(
                vocabulary: Self.vocabulary, tokens: Self.tokens, width: Self.width, heads: Self.heads, mlpRatio: Self.mlpRatio, tied: tied,
                parameter: { name in
                    let spec = specs[model.parameters.index(of: name)!]
                    return (spec.offset..<(spec.offset + spec.count)).map { Dual(values[$0], derivative: $0 == seeded ? 1 : 0) }
                })
            return gpt.meanLoss(ids: ids, targets: targets)
        }
        let referenceLoss = reference(seeding: nil).value
        #expect(abs(loss - referenceLoss) <= 1e-9 * abs(referenceLoss), "loss \(loss), reference \(referenceLoss)")
        let referenceGradient = values.indices.map { reference(seeding: $0).derivative }
        for spec in specs {
            let range = spec.offset..<(spec.offset + spec.count)
            let error = relativeError(Array(gradient[range]), Array(referenceGradient[range]))
            #expect(error < 1e-9, "\(spec.name): relative error \(error)")
        }
        #expect(relativeError(gradient, referenceGradient) < 1e-9)
    }

    @Test("changing the token at t changes no logit before t, and changes those at t", arguments: [false, true])
    func causality(tied: Bool) throws {
        let (model, ids, _) = try Self.model(tied: tied, seed: 63)
        func logits(_ ids: [[Int]]) -> [Double] {
            ids.flatMap { $0.map(Double.init) }.withUnsafeBufferPointer {
                Array(model.forward(input: $0, batch: ids.count, context: .inference))
            }
        }
        let original = logits(ids)
        let rowWidth = Self.vocabulary
        for token in 0..<Self.tokens {
            var changed = ids
            for sample in changed.indices { changed[sample][token] = (changed[sample][token] + 1) % Self.vocabulary }
            let changedLogits = logits(changed)
            for sample in 0..<Self.batch {
                let start = sample * Self.tokens * rowWidth
                let before = start..<(start + token * rowWidth)
                #expect(Array(changedLogits[before]) == Array(original[before]), "token \(token), sample \(sample)")
                let at = (start + token * rowWidth)..<(start + (token + 1) * rowWidth)
                #expect(Array(changedLogits[at]) != Array(original[at]), "token \(token), sample \(sample)")
            }
        }
    }

    /// Float32 rounds at ε ≈ 6e-8 through about a dozen chained steps (three layernorms, four
    /// projections, a softmax, GELU), each with sums of at most 32 terms of order 1, and the
    /// normalisations divide by deviations of order 1: the errors stay near 1e-6 relative, so
    /// 1e-4 catches a Float-only mistake without flaking.
    @Test("Float32 forward agrees with Float64 at the same parameters", arguments: [false, true])
    func singlePrecision(tied: Bool) throws {
        let (model, ids, _) = try Self.model(tied: tied, seed: 64)
        let specs = LayerSpec.transformer(vocabulary: Self.vocabulary, blocks: 1, width: Self.width, heads: Self.heads, tiedHead: tied)
        let single = try Sequential<Float>.build(inputShape: [Self.tokens], specs: specs, maxBatch: Self.batch)
        for index in 0..<model.parameters.count {
            single.parameters.values[index] = Float(model.parameters.values[index])
            model.parameters.values[index] = Double(single.parameters.values[index])
        }
        let input = ids.flatMap { $0.map(Double.init) }
        let double = input.withUnsafeBufferPointer { Array(model.forward(input: $0, batch: Self.batch, context: .inference)) }
        let float = input.map(Float.init).withUnsafeBufferPointer { Array(single.forward(input: $0, batch: Self.batch, context: .inference)) }
        #expect(relativeError(float.map(Double.init), double) < 1e-4)
    }

    @Test("a tied head's model counts the shared weight once and the summary shows no tensor of its own")
    func tiedParameterCount() throws {
        let untied = try Self.model(tied: false, seed: 65).0
        let tied = try Self.model(tied: true, seed: 65).0
        // The untied head adds V x C weights and V biases; the tied one nothing.
        #expect(untied.parameters.count - tied.parameters.count == Self.vocabulary * Self.width + Self.vocabulary)
        let lastRow = tied.summary.split(separator: "\n").dropLast().last!
        #expect(lastRow.hasPrefix("4_tiedhead") && lastRow.hasSuffix(" 0"), "\(lastRow)")
        #expect(tied.outputShape == [Self.tokens, Self.vocabulary])
    }

    @Test("a tied head without an earlier embedding, or of another width, is a ModelError naming it")
    func tiedHeadProblems() throws {
        let noEmbedding = #expect(throws: ModelError.self) {
            try Sequential<Double>.build(inputShape: [5, 8], specs: [.positions, .tiedHead], maxBatch: 1)
        }
        #expect(noEmbedding?.description.hasPrefix("layer 1_tiedhead: input shape [5, 8]: no earlier embedding") == true)
        let otherWidth = #expect(throws: ModelError.self) {
            try Sequential<Double>.build(
                inputShape: [5], specs: [.embedding(vocabulary: 7, width: 8), .tokenLinear(outputs: 6), .tiedHead], maxBatch: 1)
        }
        #expect(otherWidth?.description == "layer 2_tiedhead: input shape [5, 6]: width 6 differs from the embedding's width 8")
    }
}
