import Linalg

/// The output head of a language model whose logits are scores against the token embedding
/// itself, `logits = X E^T` per token ([T, C] -> [T, V]), with E [V, C] the weight of the model's
/// first `TokenEmbedding` (see `EmbeddingTiedLayer`): no parameters of its own.
///
/// With X the rows (batch x tokens) by C:
///
///     forward:   Y  = X E^T
///     backward:  dE += dY^T X,   dX = dY E
package final class TiedHead<Scalar: LinalgScalar>: EmbeddingTiedLayer {
    package var kind: String { "tiedhead" }

    private var tiedTensor: (index: Int, vocabulary: Int, width: Int)?
    private var weight: BoundTensor<Scalar>?
    private var rowsPerSample = 0

    package init() {}

    package func tie(toEmbeddingWeight index: Int, shape: [Int]) {
        precondition(shape.count == 2, "TiedHead.tie: embedding weight of shape \(shape), expected [vocabulary, width]")
        tiedTensor = (index, shape[0], shape[1])
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        guard let tiedTensor else {
            throw .incompatibleInput(layer: kind, inputShape: inputShape, reason: "no earlier embedding layer whose weight it could share")
        }
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw .incompatibleInput(layer: kind, inputShape: inputShape, reason: "every dimension must be at least 1")
        }
        guard inputShape.last == tiedTensor.width else {
            throw .incompatibleInput(
                layer: kind, inputShape: inputShape,
                reason: "width \(inputShape.last!) differs from the embedding's width \(tiedTensor.width)")
        }
        return LayerScope.token.outputShape(for: inputShape, outputs: tiedTensor.vocabulary)
    }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] { [] }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        precondition(parameterIndices.isEmpty, "TiedHead.bind: \(parameterIndices.count) parameter indices, expected none")
        _ = checkedAtBind("TiedHead") { try outputShape(for: inputShape) }
        guard let tiedTensor else { preconditionFailure("TiedHead.bind before tie") }
        precondition(
            store.specs[tiedTensor.index].shape == [tiedTensor.vocabulary, tiedTensor.width],
            "TiedHead.bind: tensor \(tiedTensor.index) of the store is not the embedding weight it was tied to")
        weight = store.boundTensor(at: tiedTensor.index)
        rowsPerSample = LayerScope.token.rows(of: inputShape).perSample
    }

    /// Nothing: the embedding initialises the shared weight.
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {}

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let weight, let tiedTensor else { preconditionFailure("TiedHead.forward before bind") }
        let (rows, vocabulary, width) = (batch * rowsPerSample, tiedTensor.vocabulary, tiedTensor.width)
        precondition(input.count >= rows * width && output.count >= rows * vocabulary, "TiedHead.forward: buffers too small for batch \(batch)")
        BLAS.gemm(
            transposeA: false, transposeB: true, m: rows, n: vocabulary, k: width,
            alpha: 1, a: input.baseAddress!, lda: width, b: weight.values, ldb: width, beta: 0, c: output.baseAddress!, ldc: vocabulary)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let weight, let tiedTensor else { preconditionFailure("TiedHead.backward before bind") }
        let (rows, vocabulary, width) = (batch * rowsPerSample, tiedTensor.vocabulary, tiedTensor.width)
        precondition(input.count >= rows * width && outputGradient.count >= rows * vocabulary, "TiedHead.backward: buffers too small for batch \(batch)")
        let (x, dy) = (input.baseAddress!, outputGradient.baseAddress!)
        BLAS.gemm(
            transposeA: true, transposeB: false, m: vocabulary, n: width, k: rows,
            alpha: 1, a: dy, lda: vocabulary, b: x, ldb: width, beta: 1, c: weight.gradients, ldc: width)
        if let inputGradient {
            precondition(inputGradient.count >= rows * width, "TiedHead.backward: input gradient too small for batch \(batch)")
            BLAS.gemm(
                transposeA: false, transposeB: false, m: rows, n: width, k: vocabulary,
                alpha: 1, a: dy, lda: vocabulary, b: weight.values, ldb: width, beta: 0, c: inputGradient.baseAddress!, ldc: width)
        }
    }
}
