import Linalg
import Spectral
import Testing

@Suite("Preconditioner layout")
struct PreconditionerLayoutTests {
    static let shapes: [[Int]] = [[1], [9], [1, 1], [1, 9], [9, 1], [4, 4], [5, 4], [4, 9], [9, 9], [13, 2]]

    @Test("the preconditioner is laid out as PreconditionerOptions.layout says", arguments: [PreconditionerOptions.LargeDimensions.block, .diagonal])
    func preconditionerFollowsLayout(largeDimensions: PreconditionerOptions.LargeDimensions) {
        let options = PreconditionerOptions(maxFactorDimension: 4, largeDimensions: largeDimensions)
        for shape in Self.shapes {
            let preconditioner = ParameterPreconditioner<Float>(shape: shape, options: options)
            switch (options.layout(shape: shape), preconditioner.structure) {
            case (.diagonal, .diagonal):
                break
            case (.blocks(let rowBands, let columnBands), .blocks(let blocks)):
                let expected = rowBands.flatMap { rows in columnBands.map { columns in [rows, columns] } }
                #expect(blocks.map { [$0.rows, $0.columns] } == expected, "\(shape)")
                #expect(blocks.allSatisfy { $0.factors.rows == $0.rows.count && $0.factors.columns == $0.columns.count }, "\(shape)")
            default:
                Issue.record("\(shape): layout \(options.layout(shape: shape)), preconditioner \(preconditioner.structure)")
            }
        }
    }

    @Test("vectors are diagonal; oversized matrices are blocked or diagonal as asked; others are one block")
    func rule() {
        let blocking = PreconditionerOptions(maxFactorDimension: 4)
        var diagonal = blocking
        diagonal.largeDimensions = .diagonal
        #expect(blocking.layout(shape: [3]) == .diagonal)
        #expect(blocking.layout(shape: [4, 3]) == .blocks(rowBands: [0..<4], columnBands: [0..<3]))
        #expect(blocking.layout(shape: [4, 3]).blockCount == 1)
        #expect(blocking.layout(shape: [9, 3]) == .blocks(rowBands: [0..<3, 3..<6, 6..<9], columnBands: [0..<3]))
        #expect(blocking.layout(shape: [5, 9]).blockCount == 6)
        #expect(diagonal.layout(shape: [4, 4]).blockCount == 1)
        #expect(diagonal.layout(shape: [5, 4]) == .diagonal)
        #expect(diagonal.layout(shape: [5, 4]).blockCount == 0)
    }

    @Test("a block's state round-trips through named tensors, and restoring names what does not fit")
    func blockState() throws {
        var generator = SeededGenerator(seed: 5)
        let options = PreconditionerOptions(mode: .kl, maxFactorDimension: 3, factor: .init(curvatureLearningRate: 0.1))
        let trained = ParameterPreconditioner<Float>(shape: [5, 3], options: options)
        for _ in 0..<4 { try trained.update(gradient: Matrix<Float>.gaussian(rows: 5, columns: 3, using: &generator)) }
        let saved = trained.stateTensors()
        #expect(saved.map(\.name) == ["block0", "block1"].flatMap { block in
            ["L", "R"].flatMap { side in ["eigenvectors", "eigenvalues", "counters", "defectBound"].map { "\(block).\(side).\($0)" } } + ["\(block).scale"]
        })
        let restored = ParameterPreconditioner<Float>(shape: [5, 3], options: options)
        try restored.restore(from: SavedState(saved))
        #expect(restored.stateTensors() == saved)

        // A checkpoint from before the Newton-Schulz gate (three counters, no bound) restores,
        // with the bound measured; a bound that is negative or below the measured defect does not.
        let legacy = saved.filter { !$0.name.hasSuffix("defectBound") }.map { tensor in
            tensor.name.hasSuffix("counters") ? NamedTensor(name: tensor.name, integers: Array(tensor.integers!.prefix(3))) : tensor
        }
        let upgraded = ParameterPreconditioner<Float>(shape: [5, 3], options: options)
        try upgraded.restore(from: SavedState(legacy))
        guard case .blocks(let blocks) = upgraded.structure, let first = blocks[0].factors as? KroneckerFactors<Float> else {
            Issue.record("expected Kronecker blocks")
            return
        }
        #expect(first.left.orthogonalityError >= 0 && first.left.orthogonalityError < 1e-4)
        for bad in [-1, 0.0] as [Float] {
            let tampered = saved.map { tensor in
                tensor.name == "block0.L.defectBound" ? NamedTensor(name: tensor.name, shape: [1], values: [bad]) : tensor
            }
            // 0 is below the measured Float32 defect only if that defect exceeds the measuring slack.
            if bad < 0 {
                #expect(throws: SavedStateError.self) { try ParameterPreconditioner<Float>(shape: [5, 3], options: options).restore(from: SavedState(tampered)) }
            }
        }

        #expect(throws: SavedStateError("optimizer state 'block1.scale' is missing")) {
            try restored.restore(from: SavedState(saved.filter { $0.name != "block1.scale" }))
        }
        var negative = saved
        negative[1] = NamedTensor(name: "block0.L.eigenvalues", shape: [3], values: [1, -1, 1] as [Float])
        #expect(throws: SavedStateError("block0.L: invalid factor state: eigenvalues must be finite and positive")) {
            try restored.restore(from: SavedState(negative))
        }
    }
}
