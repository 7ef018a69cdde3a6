import Linalg

/// Causal multi-head self-attention (GPT style) over a per-sample sequence [tokens, width], so a
/// character model can mix information from earlier positions into each position, never later.
///
/// Rows are tokens (token t's vector is contiguous). With X the T x C input of one sample, H
/// heads of size D = C / H, s = 1/sqrt(D), and for head h the D columns of Q, K, V starting at
/// h D (Q_h, K_h, V_h):
///
///     forward:
///       [Q K V] = X Wqkv^T + 1 bqkv^T                   (Wqkv is 3C x C)
///       S_h = s Q_h K_h^T,  S_h[t, j] = -inf for j > t  (t attends to 0...t)
///       P_h = softmax of each row of S_h                 (the row maximum subtracted first)
///       A_h = P_h V_h,      A = [A_1 ... A_H]            (T x C)
///       Y   = A Wproj^T + 1 bproj^T                      (Wproj is C x C)
///
///     backward, from dY:
///       dWproj += dY^T A,   dbproj += Σ_t dY[t, :],   dA = dY Wproj
///       dP_h = dA_h V_h^T,  dV_h = P_h^T dA_h
///       dS_h = P_h ∘ (dP_h - rowsum(dP_h ∘ P_h) 1^T)     (0 where masked, as P_h is)
///       dQ_h = s dS_h K_h,  dK_h = s dS_h^T Q_h
///       dWqkv += [dQ dK dV]^T X,   dbqkv += Σ_t [dQ dK dV][t, :],   dX = [dQ dK dV] Wqkv
///
/// The two projections are one GEMM each over all batch x tokens rows; the per-(sample, head)
/// products are GEMMs on strided views of the QKV matrix, in tiles of `queryTile` queries: the
/// tile of queries t0..<t1 needs the keys 0..<t1 only, and the keys t0..<t1 are seen by the
/// queries t0..<T only, so the masked upper triangle's scores are never computed (5/8 of the
/// full products for 4 tiles). QKV, P and A of the last forward are kept for the backward, in
/// scratch allocated at bind for the largest batch, as is the backward's own scratch, so
/// neither pass allocates.
package final class CausalSelfAttention<Scalar: LinalgScalar>: Layer {
    /// The number of attention heads; the width must be a multiple of it.
    package let heads: Int
    /// The queries per tile of the per-head products (any size gives the same values up to rounding).
    package let queryTile: Int

    package var kind: String { "attention" }

    private var tokens = 0
    private var width = 0
    private var qkvWeight: BoundTensor<Scalar>?
    private var qkvBias: BoundTensor<Scalar>?
    private var projectionWeight: BoundTensor<Scalar>?
    private var projectionBias: BoundTensor<Scalar>?
    /// [Q K V] of every token, batch x tokens rows of 3C.
    private var queryKeyValues = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// P_h of every sample and head, batch x heads blocks of T x T.
    private var probabilities = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// A, batch x tokens rows of C.
    private var attended = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// dA in the layout of `attended`.
    private var attendedGradients = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// [dQ dK dV] in the layout of `queryKeyValues`.
    private var queryKeyValueGradients = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// dP_h, then dS_h, of one sample and head (T x T), one per parallel worker.
    private var scoreGradients = ScratchBuffer<Scalar>(count: 0, initialValue: 0)
    /// The number of T x T blocks in `scoreGradients`: the backward's most parallel workers.
    private var scoreGradientSlots = 1
    /// The query tiles, `queryTile` tokens each but the last.
    private var tiles: [(first: Int, count: Int)] = []

    package init(heads: Int, queryTile: Int = 32) {
        precondition(heads >= 1, "CausalSelfAttention: heads must be at least 1, got \(heads)")
        precondition(queryTile >= 1, "CausalSelfAttention: queryTile must be at least 1, got \(queryTile)")
        self.heads = heads
        self.queryTile = queryTile
    }

    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        guard inputShape.count == 2 else {
            throw .incompatibleInput(layer: kind, inputShape: inputShape, reason: "expected [tokens, width], a shape of rank 2")
        }
        guard inputShape.allSatisfy({ $0 >= 1 }) else {
            throw .incompatibleInput(layer: kind, inputShape: inputShape, reason: "tokens and width must be at least 1")
        }
        guard inputShape[1] % heads == 0 else {
            throw .incompatibleInput(
                layer: kind, inputShape: inputShape, reason: "width \(inputShape[1]) is not a multiple of the \(heads) heads")
        }
        return inputShape
    }

    package func parameterShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        let width = inputShape[1]
        return [
            ("qkv.weight", [3 * width, width]), ("qkv.bias", [3 * width]),
            ("proj.weight", [width, width]), ("proj.bias", [width]),
        ]
    }

    package func bind(store: ParameterStore<Scalar>, parameterIndices: [Int], inputShape: [Int], maxBatch: Int) {
        precondition(parameterIndices.count == 4, "CausalSelfAttention.bind: \(parameterIndices.count) parameter indices, expected 4")
        _ = checkedAtBind("CausalSelfAttention") { try outputShape(for: inputShape) }
        let tensors = parameterIndices.map(store.boundTensor(at:))
        (qkvWeight, qkvBias, projectionWeight, projectionBias) = (tensors[0], tensors[1], tensors[2], tensors[3])
        (tokens, width) = (inputShape[0], inputShape[1])
        tiles = stride(from: 0, to: tokens, by: queryTile).map { ($0, min(queryTile, tokens - $0)) }
        let rows = maxBatch * tokens
        queryKeyValues = ScratchBuffer(count: rows * 3 * width, initialValue: 0)
        probabilities = ScratchBuffer(count: maxBatch * heads * tokens * tokens, initialValue: 0)
        attended = ScratchBuffer(count: rows * width, initialValue: 0)
        attendedGradients = ScratchBuffer(count: rows * width, initialValue: 0)
        queryKeyValueGradients = ScratchBuffer(count: rows * 3 * width, initialValue: 0)
        scoreGradientSlots = max(1, min(BLASThreading.threads, maxBatch))
        scoreGradients = ScratchBuffer(count: scoreGradientSlots * tokens * tokens, initialValue: 0)
    }

    /// Both projections as PyTorch's nn.Linear: weight then bias uniform in ±1/sqrt(C) (the
    /// fan-in of each is the width), QKV before the output projection.
    package func initialize(store: ParameterStore<Scalar>, using generator: inout SeededGenerator) {
        guard let qkvWeight, let qkvBias, let projectionWeight, let projectionBias else {
            preconditionFailure("CausalSelfAttention.initialize before bind")
        }
        let bound = 1 / Double(width).squareRoot()
        for tensor in [qkvWeight, qkvBias, projectionWeight, projectionBias] {
            fillUniform(store.values(at: tensor.index), bound: bound, using: &generator)
        }
    }

    /// The size D of one head.
    private var headSize: Int { width / heads }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, output: UnsafeMutableBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        guard let qkvWeight, let qkvBias, let projectionWeight, let projectionBias else {
            preconditionFailure("CausalSelfAttention.forward before bind")
        }
        let (tokens, width, headSize) = (self.tokens, self.width, self.headSize)
        let rows = batch * tokens
        precondition(rows * width <= attended.buffer.count, "CausalSelfAttention.forward: batch \(batch) exceeds maxBatch")
        precondition(input.count >= rows * width && output.count >= rows * width, "CausalSelfAttention.forward: buffers too small for batch \(batch)")
        let (x, y, qkv, a) = (input.baseAddress!, output.baseAddress!, queryKeyValues.base, attended.base)
        let qkvWidth = 3 * width

        for row in 0..<rows { (qkv + row * qkvWidth).update(from: qkvBias.values, count: qkvWidth) }
        BLAS.gemm(
            transposeA: false, transposeB: true, m: rows, n: qkvWidth, k: width,
            alpha: 1, a: x, lda: width, b: qkvWeight.values, ldb: width, beta: 1, c: qkv, ldc: qkvWidth)

        let scale = 1 / Scalar(headSize).squareRoot()
        let (probabilities, tiles) = (self.probabilities.base, self.tiles)
        ParallelLoop.forEach(count: batch) { sample, _ in
            let sampleQKV = qkv + sample * tokens * qkvWidth
            for head in 0..<heads {
                let q = sampleQKV + head * headSize
                let (k, v) = (q + width, q + 2 * width)
                let p = probabilities + (sample * heads + head) * tokens * tokens
                let ah = a + sample * tokens * width + head * headSize
                for (first, count) in tiles {
                    let visible = first + count
                    BLAS.gemm(
                        transposeA: false, transposeB: true, m: count, n: visible, k: headSize,
                        alpha: scale, a: q + first * qkvWidth, lda: qkvWidth, b: k, ldb: qkvWidth, beta: 0, c: p + first * tokens, ldc: tokens)
                    for query in first..<visible { Self.maskedSoftmax(row: p + query * tokens, visible: query + 1, count: tokens) }
                    BLAS.gemm(
                        transposeA: false, transposeB: false, m: count, n: headSize, k: visible,
                        alpha: 1, a: p + first * tokens, lda: tokens, b: v, ldb: qkvWidth,
                        beta: 0, c: ah + first * width, ldc: width)
                }
            }
        }

        for row in 0..<rows { (y + row * width).update(from: projectionBias.values, count: width) }
        BLAS.gemm(
            transposeA: false, transposeB: true, m: rows, n: width, k: width,
            alpha: 1, a: a, lda: width, b: projectionWeight.values, ldb: width, beta: 1, c: y, ldc: width)
    }

    /// Overwrites the scores `row[0..<visible]` with their softmax (the maximum subtracted
    /// before exponentiating) and the masked `row[visible..<count]` with 0.
    @inline(__always)
    private static func maskedSoftmax(row: UnsafeMutablePointer<Scalar>, visible: Int, count: Int) {
        Softmax.write(from: row, to: row, count: visible)
        (row + visible).update(repeating: 0, count: count - visible)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(
        input: UnsafeBufferPointer<Scalar>, output: UnsafeBufferPointer<Scalar>,
        outputGradient: UnsafeBufferPointer<Scalar>, inputGradient: UnsafeMutableBufferPointer<Scalar>?,
        batch: Int, context: ForwardContext
    ) {
        guard let qkvWeight, let qkvBias, let projectionWeight, let projectionBias else {
            preconditionFailure("CausalSelfAttention.backward before bind")
        }
        let (tokens, width, headSize) = (self.tokens, self.width, self.headSize)
        let rows = batch * tokens
        precondition(rows * width <= attended.buffer.count, "CausalSelfAttention.backward: batch \(batch) exceeds maxBatch")
        precondition(
            input.count >= rows * width && outputGradient.count >= rows * width,
            "CausalSelfAttention.backward: buffers too small for batch \(batch)")
        let (x, dy, qkv, a) = (input.baseAddress!, outputGradient.baseAddress!, queryKeyValues.base, attended.base)
        let (da, dqkv, scoreGradientBase) = (attendedGradients.base, queryKeyValueGradients.base, scoreGradients.base)
        let qkvWidth = 3 * width

        BLAS.gemm(
            transposeA: true, transposeB: false, m: width, n: width, k: rows,
            alpha: 1, a: dy, lda: width, b: a, ldb: width, beta: 1, c: projectionWeight.gradients, ldc: width)
        Self.addColumnSums(of: dy, rows: rows, columns: width, into: projectionBias.gradients)
        BLAS.gemm(
            transposeA: false, transposeB: false, m: rows, n: width, k: width,
            alpha: 1, a: dy, lda: width, b: projectionWeight.values, ldb: width, beta: 0, c: da, ldc: width)

        let scale = 1 / Scalar(headSize).squareRoot()
        let (probabilities, tiles) = (self.probabilities.base, self.tiles)
        ParallelLoop.forEach(count: batch, workers: min(BLASThreading.threads, scoreGradientSlots)) { sample, worker in
            let ds = scoreGradientBase + worker * tokens * tokens
            let sampleQKV = qkv + sample * tokens * qkvWidth
            let sampleGradients = dqkv + sample * tokens * qkvWidth
            for head in 0..<heads {
                let q = sampleQKV + head * headSize
                let (k, v) = (q + width, q + 2 * width)
                let dq = sampleGradients + head * headSize
                let (dk, dv) = (dq + width, dq + 2 * width)
                let dah = da + sample * tokens * width + head * headSize
                let p = probabilities + (sample * heads + head) * tokens * tokens
                for (first, count) in tiles {
                    let visible = first + count
                    BLAS.gemm(
                        transposeA: false, transposeB: true, m: count, n: visible, k: headSize,
                        alpha: 1, a: dah + first * width, lda: width, b: v, ldb: qkvWidth, beta: 0, c: ds + first * tokens, ldc: tokens)
                    for query in first..<visible {
                        let (pRow, dsRow) = (p + query * tokens, ds + query * tokens)
                        let projection = VectorKernels.dot(dsRow, pRow, count: query + 1)
                        for key in 0...query { dsRow[key] = pRow[key] * (dsRow[key] - projection) }
                        (dsRow + query + 1).update(repeating: 0, count: visible - query - 1)
                    }
                    BLAS.gemm(
                        transposeA: false, transposeB: false, m: count, n: headSize, k: visible,
                        alpha: scale, a: ds + first * tokens, lda: tokens, b: k, ldb: qkvWidth, beta: 0, c: dq + first * qkvWidth, ldc: qkvWidth)
                }
                // Keys first..<first + count are seen by queries first..<tokens only.
                for (first, count) in tiles {
                    let seenBy = tokens - first
                    BLAS.gemm(
                        transposeA: true, transposeB: false, m: count, n: headSize, k: seenBy,
                        alpha: 1, a: p + first * tokens + first, lda: tokens, b: dah + first * width, ldb: width,
                        beta: 0, c: dv + first * qkvWidth, ldc: qkvWidth)
                    BLAS.gemm(
                        transposeA: true, transposeB: false, m: count, n: headSize, k: seenBy,
                        alpha: scale, a: ds + first * tokens + first, lda: tokens, b: q + first * qkvWidth, ldb: qkvWidth,
                        beta: 0, c: dk + first * qkvWidth, ldc: qkvWidth)
                }
            }
        }

        BLAS.gemm(
            transposeA: true, transposeB: false, m: qkvWidth, n: width, k: rows,
            alpha: 1, a: dqkv, lda: qkvWidth, b: x, ldb: width, beta: 1, c: qkvWeight.gradients, ldc: width)
        Self.addColumnSums(of: dqkv, rows: rows, columns: qkvWidth, into: qkvBias.gradients)
        if let inputGradient {
            precondition(inputGradient.count >= rows * width, "CausalSelfAttention.backward: input gradient too small for batch \(batch)")
            BLAS.gemm(
                transposeA: false, transposeB: false, m: rows, n: width, k: qkvWidth,
                alpha: 1, a: dqkv, lda: qkvWidth, b: qkvWeight.values, ldb: width,
                beta: 0, c: inputGradient.baseAddress!, ldc: width)
        }
    }

    /// `sums[j] += Σ_i matrix[i, j]` over a row-major `rows x columns` matrix (a bias gradient).
    @inline(__always)
    private static func addColumnSums(
        of matrix: UnsafePointer<Scalar>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Scalar>
    ) {
        for row in 0..<rows {
            let entries = matrix + row * columns
            for column in 0..<columns { sums[column] += entries[column] }
        }
    }
}
