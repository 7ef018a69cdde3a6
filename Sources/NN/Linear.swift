import Linalg

/// A fully connected layer, `Y = X W^T + b`, on the flattened per-sample input (any input shape
/// is read as a vector of its element count) or, with scope `.token`, on every vector of the
/// last dimension ([T, C] -> [T, outputs], one weight shared by all tokens).
///
/// With X the rows (batch x rows per sample) by in, W out x in, b of size out:
///
///     forward:   Y  = X W^T + 1 b^T
///     backward:  dW += dY^T X,   db += sum over rows of dY,   dX = dY W
package final class Linear<Scalar: LinalgScalar>: FactoredGradientLayer {
    /// The number of output features.
    package let outputs: Int
    /// Whether a row is the whole sample or one token.
    package let scope: LayerScope

    package var kind: String { "linear" }

    private var inputs = 0
    private var rowsPerSample = 1
    private var weight: BoundTensor<Scalar>?
    private var bias: BoundTensor<Scalar>?
    /// Copies of the last backward's `dY` and `X`, once `keepFactoredGradient()` was called.
    private var keptFactors: FactoredGradient<Scalar>?
    /// The store's `zeroings` when `keptFactors` were copied, or nil when a second backward added
    /// to the same gradient (the factors then describe only part of it).
    private var keptAtZeroing: Int?
    /// The store's `zeroings` at the last backward that kept factors.
    private var addedAtZeroing: Int?

    package init(outputs: Int, over scope: LayerScope = .sample) {
        precondition(outputs >= 1, "Linear: outputs must be at least 1, got \(outputs)")
        self.outputs = outputs
        self.scope = scope
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw .incompatibleInput(layer: kind, inputShape: inputShape, reason: "every dimension must be at least 1")
        }
        return scope.outputShape(for: inputShape, outputs: outputs)
    }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        [("weight", [outputs, scope.rows(of: inputShape).width]), ("bias", [outputs])]
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        (weight, bias) = store.boundPair(at: parameterIndices, layer: "Linear")
        (rowsPerSample, inputs) = scope.rows(of: inputShape)
    }

    // MARK: - Factored gradient

    package var factoredTensor: Int {
        guard let weight else { preconditionFailure("Linear.factoredTensor before bind") }
        return weight.index
    }

    package func factorRows(batch: Int) -> Int { batch * rowsPerSample }

    package func keepFactoredGradient() {
        guard keptFactors == nil else { return }
        keptFactors = FactoredGradient(outputGradient: Matrix(rows: 0, columns: outputs), input: Matrix(rows: 0, columns: inputs))
    }

    package var factoredGradient: FactoredGradient<Scalar>? {
        guard let weight, let keptFactors, let keptAtZeroing, keptAtZeroing == weight.store.zeroings else { return nil }
        return keptFactors
    }

    /// Copies `dY` and `X` of this backward (`rows` rows); a second backward into the same
    /// gradient (no zeroing between) leaves no factors until the next zeroing.
    @inline(__always)
    private func keepFactors(outputGradient: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, rows: Int) {
        guard let weight, keptFactors != nil else { return }
        let zeroing = weight.store.zeroings
        if addedAtZeroing == zeroing {
            keptAtZeroing = nil
            return
        }
        addedAtZeroing = zeroing
        keptFactors!.outputGradient.resize(rows: rows, columns: outputs)
        keptFactors!.outputGradient.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: outputGradient, count: rows * outputs) }
        keptFactors!.input.resize(rows: rows, columns: inputs)
        keptFactors!.input.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: input, count: rows * inputs) }
        keptAtZeroing = zeroing
    }

    /// Weight and bias uniform in ±1/sqrt(in) (PyTorch's default).
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {
        guard let weight, let bias else { preconditionFailure("Linear.initialize before bind") }
        let bound = 1 / Double(inputs).squareRoot()
        fillUniform(store.values(at: weight.index), bound: bound, using: &generator)
        fillUniform(store.values(at: bias.index), bound: bound, using: &generator)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let weight, let bias else { preconditionFailure("Linear.forward before bind") }
        let rows = batch * rowsPerSample
        precondition(input.count >= rows * inputs && output.count >= rows * outputs, "Linear.forward: buffers too small for batch \(batch)")
        let (x, y, outputs, inputs) = (input.baseAddress!, output.baseAddress!, self.outputs, self.inputs)
        for row in 0..<rows {
            (y + row * outputs).update(from: bias.values, count: outputs)
        }
        BLAS.gemm(
            transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs,
            alpha: 1, a: x, lda: inputs, b: weight.values, ldb: inputs, beta: 1, c: y, ldc: outputs)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let weight, let bias else { preconditionFailure("Linear.backward before bind") }
        let rows = batch * rowsPerSample
        precondition(input.count >= rows * inputs && outputGradient.count >= rows * outputs, "Linear.backward: buffers too small for batch \(batch)")
        let (x, dy, outputs, inputs) = (input.baseAddress!, outputGradient.baseAddress!, self.outputs, self.inputs)
        BLAS.gemm(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows,
            alpha: 1, a: dy, lda: outputs, b: x, ldb: inputs, beta: 1, c: weight.gradients, ldc: inputs)
        keepFactors(outputGradient: dy, input: x, rows: rows)
        let db = bias.gradients
        for row in 0..<rows {
            let entries = dy + row * outputs
            for feature in 0..<outputs { db[feature] += entries[feature] }
        }
        if let inputGradient {
            precondition(inputGradient.count >= rows * inputs, "Linear.backward: input gradient too small for batch \(batch)")
            BLAS.gemm(
                transposeA: false, transposeB: false, m: rows, n: inputs, k: outputs,
                alpha: 1, a: dy, lda: outputs, b: weight.values, ldb: inputs, beta: 0, c: inputGradient.baseAddress!, ldc: inputs)
        }
    }
}
