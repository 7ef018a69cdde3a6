import Linalg

/// A learned vector per position added to a sequence [T, C], so the layers after it (attention
/// mixes tokens without regard to order) can tell positions apart. The weight P is [T, C]:
///
///     forward:   Y[t, :] = X[t, :] + P[t, :]
///     backward:  dP += Σ_samples dY,   dX = dY
package final class PositionEmbedding<Scalar: LinalgScalar>: Layer {
    package var kind: String { "positions" }

    private var weight: BoundTensor<Scalar>?
    /// Elements of one sample, T C.
    private var count = 0

    package init() {}

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        guard inputShape.count == 2, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw .incompatibleInput(layer: kind, inputShape: inputShape, reason: "expected [tokens, width], a shape of rank 2")
        }
        return inputShape
    }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        [("weight", inputShape)]
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        precondition(parameterIndices.count == 1, "PositionEmbedding.bind: \(parameterIndices.count) parameter indices, expected 1")
        _ = checkedAtBind("PositionEmbedding") { try outputShape(for: inputShape) }
        weight = store.boundTensor(at: parameterIndices[0])
        count = elementCount(inputShape)
    }

    /// Uniform with standard deviation 0.02, as the token embedding (see `TokenEmbedding`).
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {
        guard let weight else { preconditionFailure("PositionEmbedding.initialize before bind") }
        fillUniform(store.values(at: weight.index), bound: TokenEmbedding<Scalar>.initialDeviation * Double(3).squareRoot(), using: &generator)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let weight else { preconditionFailure("PositionEmbedding.forward before bind") }
        let count = self.count
        precondition(input.count >= batch * count && output.count >= batch * count, "PositionEmbedding.forward: buffers too small for batch \(batch)")
        let (x, y, p) = (input.baseAddress!, output.baseAddress!, weight.values)
        for sample in 0..<batch {
            let offset = sample * count
            for index in 0..<count { y[offset + index] = x[offset + index] + p[index] }
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let weight else { preconditionFailure("PositionEmbedding.backward before bind") }
        let count = self.count
        precondition(outputGradient.count >= batch * count, "PositionEmbedding.backward: buffers too small for batch \(batch)")
        let (dy, dp) = (outputGradient.baseAddress!, weight.gradients)
        for sample in 0..<batch {
            let offset = sample * count
            for index in 0..<count { dp[index] += dy[offset + index] }
        }
        if let inputGradient {
            copyElements(from: UnsafeBufferPointer(rebasing: outputGradient[0..<(batch * count)]), to: inputGradient, count: batch * count)
        }
    }
}
