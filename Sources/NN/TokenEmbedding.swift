import Linalg

/// A learned vector per token id, the first layer of a character language model: each id of the
/// per-sample sequence [T] becomes the row of the weight E [V, C] it names, giving [T, C].
///
/// Ids arrive as Scalar values (Float holds every integer below 2^24 exactly); the data path
/// guarantees integers in 0..<V, so any other value is a precondition failure naming it.
///
///     forward:   Y[t, :] = E[id_t, :]
///     backward:  dE[id_t, :] += dY[t, :]   (scatter-add; ids have no gradient)
package final class TokenEmbedding<Scalar: LinalgScalar>: Layer {
    /// The number of distinct token ids, V.
    package let vocabulary: Int
    /// The size C of each token's vector.
    package let width: Int

    package var kind: String { "embedding" }

    private var weight: BoundTensor<Scalar>?
    private var tokens = 0

    package init(vocabulary: Int, width: Int) {
        precondition(vocabulary >= 1 && width >= 1, "TokenEmbedding: vocabulary \(vocabulary) and width \(width) must be at least 1")
        self.vocabulary = vocabulary
        self.width = width
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        guard inputShape.count == 1, inputShape[0] >= 1 else {
            throw .incompatibleInput(layer: kind, inputShape: inputShape, reason: "expected [tokens] of token ids, a shape of rank 1")
        }
        return [inputShape[0], width]
    }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        [("weight", [vocabulary, width])]
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        precondition(parameterIndices.count == 1, "TokenEmbedding.bind: \(parameterIndices.count) parameter indices, expected 1")
        _ = checkedAtBind("TokenEmbedding") { try outputShape(for: inputShape) }
        weight = store.boundTensor(at: parameterIndices[0])
        tokens = inputShape[0]
    }

    /// Uniform in ±0.02·sqrt(3), a standard deviation of 0.02 (GPT-2 draws its embeddings
    /// normal with that deviation; the uniform keeps the one sampling rule of every layer).
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {
        guard let weight else { preconditionFailure("TokenEmbedding.initialize before bind") }
        fillUniform(store.values(at: weight.index), bound: Self.initialDeviation * Double(3).squareRoot(), using: &generator)
    }

    /// The standard deviation of the initial vectors (GPT-2's).
    static var initialDeviation: Double { 0.02 }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let weight else { preconditionFailure("TokenEmbedding.forward before bind") }
        let (rows, width) = (batch * tokens, self.width)
        precondition(input.count >= rows && output.count >= rows * width, "TokenEmbedding.forward: buffers too small for batch \(batch)")
        let y = output.baseAddress!
        for row in 0..<rows {
            (y + row * width).update(from: weight.values + id(input[row], row: row) * width, count: width)
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let weight else { preconditionFailure("TokenEmbedding.backward before bind") }
        let (rows, width) = (batch * tokens, self.width)
        precondition(input.count >= rows && outputGradient.count >= rows * width, "TokenEmbedding.backward: buffers too small for batch \(batch)")
        let dy = outputGradient.baseAddress!
        for row in 0..<rows {
            let (source, target) = (dy + row * width, weight.gradients + id(input[row], row: row) * width)
            for feature in 0..<width { target[feature] += source[feature] }
        }
        if let inputGradient {
            precondition(inputGradient.count >= rows, "TokenEmbedding.backward: input gradient too small for batch \(batch)")
            UnsafeMutableBufferPointer(rebasing: inputGradient[0..<rows]).update(repeating: 0)
        }
    }

    /// The token id `value` holds, at batch row `row` (sample-major), checked to be an integer in 0..<V.
    @inline(__always)
    private func id(_ value: Scalar, row: Int) -> Int {
        precondition(
            value >= 0 && value < Scalar(vocabulary) && value.rounded(.towardZero) == value,
            "TokenEmbedding: token \(row % tokens) of sample \(row / tokens) is \(value), not an id in 0..<\(vocabulary)")
        return Int(value)
    }
}
