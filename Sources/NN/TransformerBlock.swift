import Linalg

/// One pre-LayerNorm GPT block on a sequence [T, C], the repeated unit of a transformer
/// language model: causal self-attention, then a two-layer GELU MLP, each on a normalised copy
/// of the stream and added back to it (residual connections):
///
///     x1 = x + Attn(LN1(x))
///     y  = x1 + Proj(GELU(FC(LN2(x1))))      FC: C -> ratio·C, Proj: ratio·C -> C
///
/// with LN1, LN2 token-wise `LayerNorm`s, Attn a `CausalSelfAttention` and FC, Proj token-wise
/// `Linear`s with bias: the block composes those layers, bound to consecutive ranges of its
/// parameter indices (names "ln1.scale", ..., "mlp.proj.bias"), and keeps every intermediate
/// activation, and the gradients its backward passes between them, in scratch allocated at bind
/// for the largest batch. Backward, from dy:
///
///     dx1 = dy + LN2ᵀ(FCᵀ(GELUᵀ(Projᵀ(dy))))
///     dx  = dx1 + LN1ᵀ(Attnᵀ(dx1))
///
/// where each ᵀ is that layer's backward (which also adds its parameter gradients).
package final class TransformerBlock<Scalar: LinalgScalar>: Layer {
    /// The number of attention heads; the width must be a multiple of it.
    package let heads: Int
    /// The MLP's hidden width as a multiple of the block's width.
    package let mlpRatio: Int

    package var kind: String { "block" }

    private let firstNorm = LayerNorm<Scalar>(over: .token)
    private let attention: CausalSelfAttention<Scalar>
    private let secondNorm = LayerNorm<Scalar>(over: .token)
    private let activation = GELU<Scalar>()
    private var expansion: Linear<Scalar>?
    private var contraction: Linear<Scalar>?
    /// The sub-layers with parameters, in parameter order, once bound.
    private var boundLayers: [any Layer<Scalar>] = []

    /// T C and T ratio·C: elements of one sample's stream and of its MLP hidden layer.
    private var narrowCount = 0
    private var wideCount = 0
    /// LN1(x), Attn(LN1(x)), x1, LN2(x1), FC(..), GELU(..), Proj(..): one stream or hidden layer per sample each.
    private var firstNormalized = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var attended = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var residual = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var secondNormalized = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var hidden = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var activated = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var projected = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// The gradients with respect to GELU's output and input (hidden width).
    private var activatedGradient = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    private var hiddenGradient = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// The gradient with respect to LN2's output, then LN1's (stream width).
    private var normalizedGradient = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// dx1 (stream width).
    private var residualGradient = ScratchBuffer<Scalar>(count: 0, initialValue: 0)

    package init(heads: Int, mlpRatio: Int = 4) {
        precondition(heads >= 1 && mlpRatio >= 1, "TransformerBlock: heads \(heads) and mlpRatio \(mlpRatio) must be at least 1")
        self.heads = heads
        self.mlpRatio = mlpRatio
        attention = CausalSelfAttention(heads: heads)
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        do {
            return try attention.outputShape(for: inputShape)
        } catch {
            throw error.renamingLayer(to: kind)
        }
    }

    /// The sub-layers that hold parameters, in parameter order, with their name prefixes and
    /// per-sample input shapes, on [tokens, width] with the MLP's linears `expansion` and `contraction`.
    private func parts(
        expansion: Linear<Scalar>, contraction: Linear<Scalar>, tokens: Int
    ) -> [(prefix: String, layer: any Layer<Scalar>, inputShape: [Int])] {
        let stream = [tokens, contraction.outputs]
        return [
            ("ln1", firstNorm, stream), ("attn", attention, stream), ("ln2", secondNorm, stream),
            ("mlp.fc", expansion, stream), ("mlp.proj", contraction, [tokens, expansion.outputs]),
        ]
    }

    /// The MLP's two token-wise linears for a block of `width`.
    private func multilayerPerceptron(width: Int) -> (expansion: Linear<Scalar>, contraction: Linear<Scalar>) {
        (Linear(outputs: mlpRatio * width, over: .token), Linear(outputs: width, over: .token))
    }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        let (expansion, contraction) = multilayerPerceptron(width: inputShape[1])
        return parts(expansion: expansion, contraction: contraction, tokens: inputShape[0]).flatMap { part in
            part.layer.parameterShapes(inputShape: part.inputShape).map { ("\(part.prefix).\($0.name)", $0.shape) }
        }
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        _ = checkedAtBind("TransformerBlock") { try outputShape(for: inputShape) }
        let (tokens, width) = (inputShape[0], inputShape[1])
        let (expansion, contraction) = multilayerPerceptron(width: width)
        (self.expansion, self.contraction) = (expansion, contraction)
        var remaining = parameterIndices[...]
        let parts = parts(expansion: expansion, contraction: contraction, tokens: tokens)
        boundLayers = parts.map(\.layer)
        for part in parts {
            let count = part.layer.parameterShapes(inputShape: part.inputShape).count
            precondition(remaining.count >= count, "TransformerBlock.bind: \(parameterIndices.count) parameter indices, too few")
            part.layer.bind(store: store, parameterIndices: Array(remaining.prefix(count)), inputShape: part.inputShape, maxBatch: maxBatch)
            remaining = remaining.dropFirst(count)
        }
        precondition(remaining.isEmpty, "TransformerBlock.bind: \(parameterIndices.count) parameter indices, too many")
        activation.bind(store: store, parameterIndices: [], inputShape: [tokens, expansion.outputs], maxBatch: maxBatch)
        (narrowCount, wideCount) = (tokens * width, tokens * expansion.outputs)
        func narrow() -> ScratchBuffer<Scalar> { ScratchBuffer(count: maxBatch * narrowCount, initialValue: 0) }
        func wide() -> ScratchBuffer<Scalar> { ScratchBuffer(count: maxBatch * wideCount, initialValue: 0) }
        (firstNormalized, attended, residual, secondNormalized, projected) = (narrow(), narrow(), narrow(), narrow(), narrow())
        (hidden, activated, activatedGradient, hiddenGradient) = (wide(), wide(), wide(), wide())
        (normalizedGradient, residualGradient) = (narrow(), narrow())
    }

    /// Each sub-layer as it initialises alone (LayerNorms scale 1 and shift 0; attention and the
    /// MLP's linears uniform in ±1/sqrt(fan-in)), in the order ln1, attn, ln2, mlp.fc, mlp.proj.
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {
        precondition(!boundLayers.isEmpty, "TransformerBlock.initialize before bind")
        for layer in boundLayers { layer.initialize(store: store, using: &generator) }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let expansion, let contraction else { preconditionFailure("TransformerBlock.forward before bind") }
        let (narrow, wide) = (batch * narrowCount, batch * wideCount)
        precondition(narrow <= residual.buffer.count, "TransformerBlock.forward: batch \(batch) exceeds maxBatch")
        precondition(input.count >= narrow && output.count >= narrow, "TransformerBlock.forward: buffers too small for batch \(batch)")
        let x = UnsafeBufferPointer(rebasing: input[0..<narrow])
        let y = UnsafeMutableBufferPointer(rebasing: output[0..<narrow])
        let (n1, a, x1, n2) = (firstNormalized.prefix(narrow), attended.prefix(narrow), residual.prefix(narrow), secondNormalized.prefix(narrow))
        let (h, g, p) = (hidden.prefix(wide), activated.prefix(wide), projected.prefix(narrow))
        firstNorm.forward(input: x, output: n1, batch: batch, context: context)
        attention.forward(input: UnsafeBufferPointer(n1), output: a, batch: batch, context: context)
        Self.add(x.baseAddress!, a.baseAddress!, into: x1.baseAddress!, count: narrow)
        secondNorm.forward(input: UnsafeBufferPointer(x1), output: n2, batch: batch, context: context)
        expansion.forward(input: UnsafeBufferPointer(n2), output: h, batch: batch, context: context)
        activation.forward(input: UnsafeBufferPointer(h), output: g, batch: batch, context: context)
        contraction.forward(input: UnsafeBufferPointer(g), output: p, batch: batch, context: context)
        Self.add(x1.baseAddress!, p.baseAddress!, into: y.baseAddress!, count: narrow)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let expansion, let contraction else { preconditionFailure("TransformerBlock.backward before bind") }
        let (narrow, wide) = (batch * narrowCount, batch * wideCount)
        precondition(narrow <= residual.buffer.count, "TransformerBlock.backward: batch \(batch) exceeds maxBatch")
        precondition(input.count >= narrow && outputGradient.count >= narrow, "TransformerBlock.backward: buffers too small for batch \(batch)")
        let x = UnsafeBufferPointer(rebasing: input[0..<narrow])
        let dy = UnsafeBufferPointer(rebasing: outputGradient[0..<narrow])
        let (n1, a, x1, n2) = (firstNormalized.prefix(narrow), attended.prefix(narrow), residual.prefix(narrow), secondNormalized.prefix(narrow))
        let (h, g, p) = (hidden.prefix(wide), activated.prefix(wide), projected.prefix(narrow))
        let (dg, dh) = (activatedGradient.prefix(wide), hiddenGradient.prefix(wide))
        let (dn, dx1) = (normalizedGradient.prefix(narrow), residualGradient.prefix(narrow))

        contraction.backward(
            input: UnsafeBufferPointer(g), output: UnsafeBufferPointer(p), outputGradient: dy, inputGradient: dg, batch: batch, context: context)
        activation.backward(
            input: UnsafeBufferPointer(h), output: UnsafeBufferPointer(g), outputGradient: UnsafeBufferPointer(dg), inputGradient: dh,
            batch: batch, context: context)
        expansion.backward(
            input: UnsafeBufferPointer(n2), output: UnsafeBufferPointer(h), outputGradient: UnsafeBufferPointer(dh), inputGradient: dn,
            batch: batch, context: context)
        secondNorm.backward(
            input: UnsafeBufferPointer(x1), output: UnsafeBufferPointer(n2), outputGradient: UnsafeBufferPointer(dn), inputGradient: dx1,
            batch: batch, context: context)
        Self.add(dx1.baseAddress!, dy.baseAddress!, into: dx1.baseAddress!, count: narrow)
        attention.backward(
            input: UnsafeBufferPointer(n1), output: UnsafeBufferPointer(a), outputGradient: UnsafeBufferPointer(dx1), inputGradient: dn,
            batch: batch, context: context)
        let dx = inputGradient.map { inputGradient in
            precondition(inputGradient.count >= narrow, "TransformerBlock.backward: input gradient too small for batch \(batch)")
            return UnsafeMutableBufferPointer(rebasing: inputGradient[0..<narrow])
        }
        firstNorm.backward(
            input: x, output: UnsafeBufferPointer(n1), outputGradient: UnsafeBufferPointer(dn), inputGradient: dx, batch: batch, context: context)
        if let dx {
            Self.add(dx.baseAddress!, dx1.baseAddress!, into: dx.baseAddress!, count: narrow)
        }
    }

    /// `target[i] = first[i] + second[i]` for `count` elements, over the cores (a residual
    /// connection and its gradient); `target` may be `first`.
    @inline(__always)
    private static func add(_ first: UnsafePointer<Scalar>, _ second: UnsafePointer<Scalar>, into target: UnsafeMutablePointer<Scalar>, count: Int) {
        ParallelLoop.forEachRange(count: count) { range in
            for index in range { target[index] = first[index] + second[index] }
        }
    }
}
