import Linalg
import Spectral
import Testing

/// Shared scratch (`FactorWorkspacePool`) and bfloat16 storage change where numbers live, never
/// which numbers come out: every comparison here is bit for bit (tolerance 0), since both paths
/// run the same floating-point operations in the same order.
@Suite("Factor workspaces and bfloat16 state")
struct FactorWorkspaceTests {
    /// Block shapes with repeats (two blocks share a workspace), a transpose (the same sizes on
    /// other sides) and a square block (its two factors of one size must not share).
    static let shapes = [(6, 4), (6, 4), (4, 6), (6, 6), (3, 4)]

    /// Gradients for `step` of every block, the same for every run: `G = dY^T X` with rank 3.
    static func gradients(step: Int) -> [(gradient: Matrix<Float>, factored: FactoredGradient<Float>)] {
        var generator = SeededGenerator(seed: UInt64(100 + step))
        return shapes.map { rows, columns in
            let outputGradient = Matrix<Float>.gaussian(rows: 3, columns: rows, using: &generator)
            let input = Matrix<Float>.gaussian(rows: 3, columns: columns, using: &generator)
            return (BLAS.product(outputGradient, input, transposeA: true), FactoredGradient(outputGradient: outputGradient, input: input))
        }
    }

    /// The preconditioned gradients of 12 steps of every block, updates interleaved block by block
    /// as an optimizer runs them: the left factor every step, the right every other step, the
    /// factored form on odd steps, dense roots on the left of the first two blocks.
    static func outputs(_ blocks: [KroneckerFactors<Float>], steps: Range<Int> = 0..<12) throws -> [[Float]] {
        var results: [[Float]] = []
        for (index, block) in blocks.enumerated() { block.denseRoots = (index < 2, false) }
        for step in steps {
            for (block, (gradient, factored)) in zip(blocks, gradients(step: step)) {
                let usesFactors = step % 2 == 1
                try block.update(gradient: gradient, factored: usesFactors ? factored : nil, rates: FactorRates(left: 0.1, right: step % 2 == 0 ? 0.2 : nil))
                var result = Matrix<Float>(rows: 0, columns: 0)
                block.preconditionGradient(gradient, factored: usesFactors ? factored : nil, power: 2, into: &result)
                results.append(result.elements)
            }
        }
        return results
    }

    static func blocks(_ mode: KroneckerMode, _ dtype: StateDType, pool: FactorWorkspacePool<Float>?) -> [KroneckerFactors<Float>] {
        shapes.map { rows, columns in
            KroneckerFactors<Float>(rows: rows, columns: columns, mode: mode, initialEigenvalue: 0.5, stateDType: dtype, workspaces: pool)
        }
    }

    @Test("blocks sharing a workspace pool compute what blocks with their own do, bit for bit",
          arguments: [KroneckerMode.kl, .shampoo], [StateDType.float32, .bfloat16])
    func sharedEqualsPrivate(mode: KroneckerMode, dtype: StateDType) throws {
        let shared = Self.blocks(mode, dtype, pool: FactorWorkspacePool())
        let own = Self.blocks(mode, dtype, pool: nil)
        #expect(try Self.outputs(shared) == Self.outputs(own))
        #expect(shared.map { $0.stateTensors(prefix: "b") } == own.map { $0.stateTensors(prefix: "b") })
    }

    @Test("bfloat16 state: B holds bfloat16 values, d Float32 ones, and the checkpoint stores B as BF16")
    func storage() throws {
        let blocks = Self.blocks(.kl, .bfloat16, pool: FactorWorkspacePool())
        _ = try Self.outputs(blocks)
        for block in blocks {
            for factor in [block.left, block.right] {
                #expect(factor.eigenvectors.elements.allSatisfy { BFloat16.rounded($0) == $0 })
                #expect(factor.eigenvectorStorageBits.map(BFloat16.float) == factor.eigenvectors.elements)
                #expect(factor.eigenvalues.contains { BFloat16.rounded($0) != $0 }, "d is kept in Float32")
                // The stored bound covers the rounding: measured ||B^T B - I||_F is below it.
                #expect(orthogonalityError(factor.eigenvectors) <= Double(factor.orthogonalityError))
            }
            let tensors = block.stateTensors(prefix: "b")
            #expect(tensors.filter { $0.bfloat16Bits != nil }.map(\.name) == ["b.L.eigenvectors", "b.R.eigenvectors"])
        }
    }

    @Test("a bfloat16 block resumes from its saved tensors bit for bit", arguments: [KroneckerMode.kl, .shampoo])
    func resumes(mode: KroneckerMode) throws {
        let straight = Self.blocks(mode, .bfloat16, pool: FactorWorkspacePool())
        _ = try Self.outputs(straight, steps: 0..<6)
        let saved = straight.map { SavedState($0.stateTensors(prefix: "b")) }
        let continued = try Self.outputs(straight, steps: 6..<12)

        let resumed = Self.blocks(mode, .bfloat16, pool: FactorWorkspacePool())
        for (block, state) in zip(resumed, saved) { try block.restore(from: state, prefix: "b") }
        #expect(try Self.outputs(resumed, steps: 6..<12) == continued)
        #expect(resumed.map { $0.stateTensors(prefix: "b") } == straight.map { $0.stateTensors(prefix: "b") })
    }

    @Test("state moves between precisions: Float32 into bfloat16 rounds with a bound that holds; back widens exactly")
    func convertsPrecision() throws {
        let float = Self.blocks(.kl, .float32, pool: nil)
        _ = try Self.outputs(float, steps: 0..<6)
        for block in float {
            let halved = KroneckerFactors<Float>(rows: block.rows, columns: block.columns, mode: .kl, stateDType: .bfloat16)
            try halved.restore(from: SavedState(block.stateTensors(prefix: "b")), prefix: "b")
            for (original, rounded) in [(block.left, halved.left), (block.right, halved.right)] {
                #expect(rounded.eigenvectors.elements == original.eigenvectors.elements.map(BFloat16.rounded))
                #expect(rounded.eigenvalues == original.eigenvalues)
                #expect(orthogonalityError(rounded.eigenvectors) <= Double(rounded.orthogonalityError))
                #expect(rounded.orthogonalityError >= original.orthogonalityError)
            }
            let widened = KroneckerFactors<Float>(rows: block.rows, columns: block.columns, mode: .kl)
            try widened.restore(from: SavedState(halved.stateTensors(prefix: "b")), prefix: "b")
            #expect(widened.left.eigenvectors == halved.left.eigenvectors)
            #expect(widened.left.orthogonalityError == halved.left.orthogonalityError)
        }
    }

    @Test("Eigen-Shampoo in bfloat16: statistics and eigenvectors hold bfloat16 values and resume bit for bit")
    func eigenShampoo() throws {
        func run(_ block: EigenKroneckerFactors<Float>, steps: Range<Int>) throws -> [[Float]] {
            var results: [[Float]] = []
            for step in steps {
                let gradient = Self.gradients(step: step)[0].gradient
                try block.updateCurvature(gradient: gradient, rates: FactorRates(left: 0.1, right: 0.1))
                if step % 3 == 0 { try block.refreshRoots() }
                var result = Matrix<Float>(rows: 0, columns: 0)
                block.preconditionGradient(gradient, power: 4, damping: .standard, into: &result)
                results.append(result.elements)
            }
            return results
        }
        let block = EigenKroneckerFactors<Float>(rows: 6, columns: 4, curvatureLearningRate: 0.1, stateDType: .bfloat16)
        _ = try run(block, steps: 0..<6)
        for factor in [block.left, block.right] {
            #expect(factor.statistic.elements.allSatisfy { BFloat16.rounded($0) == $0 })
            #expect(factor.eigenvectors.elements.allSatisfy { BFloat16.rounded($0) == $0 })
        }
        let saved = SavedState(block.stateTensors(prefix: "b"))
        let continued = try run(block, steps: 6..<12)
        let resumed = EigenKroneckerFactors<Float>(rows: 6, columns: 4, curvatureLearningRate: 0.1, stateDType: .bfloat16)
        try resumed.restore(from: saved, prefix: "b")
        #expect(try run(resumed, steps: 6..<12) == continued)
    }
}
