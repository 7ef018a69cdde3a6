import Linalg

/// A pair of curvature factors for one matrix block, however they are learned: spectrally
/// (`KroneckerFactors`) or by exact moving averages and eigendecompositions (`EigenKroneckerFactors`).
public protocol KroneckerBlock<Scalar>: AnyObject {
    /// The precision of the factors and gradients (`Float` or `Double`).
    associatedtype Scalar: LinalgScalar
    /// `a`, the rows of the block's gradient and the size of its left factor.
    var rows: Int { get }
    /// `b`, the columns of the block's gradient and the size of its right factor.
    var columns: Int { get }
    /// Which sides precondition with a dense root formed once per change of the factor (one GEMM
    /// per use) rather than in factored form (two GEMMs, nothing to form).
    var denseRoots: (left: Bool, right: Bool) { get set }
    /// One curvature update from the block's gradient, of the sides `rates` names; `factored`,
    /// when given, is the same gradient as `dY^T X`, for blocks that can use it.
    func updateCurvature(gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>?, rates: FactorRates) throws(SpectralFactorError)
    /// Brings roots up to date where they are computed separately (a no-op for spectral factors,
    /// whose roots are always current).
    func refreshRoots() throws
    /// `result` = the preconditioned block gradient (`factored` as in `updateCurvature`).
    func preconditionGradient(
        _ gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>?, power: Double, damping: RootDamping,
        into result: inout Matrix<Scalar>)
    /// The block's state as tensors named "`prefix`.…", in a fixed order (what a checkpoint stores).
    func stateTensors(prefix: String) -> [NamedTensor]
    /// Restores the state `stateTensors(prefix:)` saved, checking every tensor's shape and type
    /// and that the values can be factors.
    func restore(from saved: SavedState, prefix: String) throws(SavedStateError)
    /// The measured health of each spectral factor, named "`prefix`.L" and "`prefix`.R" (one k³
    /// product each); empty for a block without spectral factors.
    func measureHealth(prefix: String) -> [(name: String, health: FactorHealth)]
}

extension KroneckerBlock {
    /// One curvature update from the formed gradient.
    public func updateCurvature(gradient: Matrix<Scalar>, rates: FactorRates) throws(SpectralFactorError) {
        try updateCurvature(gradient: gradient, factored: nil, rates: rates)
    }
}

/// Which factors of a Kronecker block a curvature update moves, and each one's learning rate
/// (nil: that factor keeps its state).
public struct FactorRates: Sendable, Equatable {
    /// The learning rate of the left factor `S_L`'s update; nil: it keeps its state.
    public var left: Double?
    /// The learning rate of the right factor `S_R`'s update; nil: it keeps its state.
    public var right: Double?

    /// The rates of both sides, nil for a side that is not updated.
    public init(left: Double?, right: Double?) {
        self.left = left
        self.right = right
    }
}

/// The preconditioner of one parameter tensor: a grid of Kronecker factor pairs for a matrix
/// (one pair when both sides fit `maxFactorDimension`), or the diagonal fallback for 1-D
/// parameters and, if asked, for matrices too large to factor, as
/// `PreconditionerOptions.layout(shape:)` decides.
public final class ParameterPreconditioner<Scalar: LinalgScalar> {
    /// One block of a blocked matrix: its place and its factors.
    public struct Block {
        /// The rows of the parameter this block covers.
        public let rows: Range<Int>
        /// The columns of the parameter this block covers.
        public let columns: Range<Int>
        /// The block's pair of curvature factors, sized `rows.count` x `columns.count`.
        public let factors: any KroneckerBlock<Scalar>
    }

    /// How the parameter is preconditioned, as `PreconditionerOptions.layout(shape:)` decided.
    public enum Structure {
        /// A pair of Kronecker factors per block, row band by row band (the order of the
        /// "block<index>" state names).
        case blocks([Block])
        /// The diagonal fallback: a 1-D parameter, or a matrix too large to factor under
        /// `largeDimensions: diagonal`.
        case diagonal(DiagonalPreconditioner<Scalar>)
    }

    /// The parameter's shape, `[n]` or `[rows, columns]`.
    public let shape: [Int]
    /// The options it was built with; their `power` and `damping` apply at every
    /// `preconditionGradient`.
    public let options: PreconditionerOptions
    /// The blocks or the diagonal fallback that hold the learned curvature.
    public let structure: Structure

    private var blockGradient = Matrix<Scalar>(rows: 0, columns: 0)
    private var blockResult = Matrix<Scalar>(rows: 0, columns: 0)

    /// A fresh spectral preconditioner for a parameter of `shape` (`[n]` or `[rows, columns]`),
    /// its factors keeping `B` as `options.stateDType` says. `workspaces`: scratch shared with the
    /// other preconditioners one optimizer updates one at a time (nil: each block its own).
    public convenience init(shape: [Int], options: PreconditionerOptions, workspaces: FactorWorkspacePool<Scalar>? = nil) {
        self.init(shape: shape, options: options) { rows, columns in
            KroneckerFactors<Scalar>(
                rows: rows, columns: columns, mode: options.mode, options: options.factor,
                initialEigenvalue: Scalar(options.initialEigenvalue), stateDType: options.stateDType,
                workspaces: workspaces)
        }
    }

    /// A fresh preconditioner whose matrix blocks come from `makeBlock(rows, columns)`.
    public init(shape: [Int], options: PreconditionerOptions, makeBlock: (Int, Int) -> any KroneckerBlock<Scalar>) {
        precondition(options.validationError() == nil, "ParameterPreconditioner: \(options.validationError()!)")
        self.shape = shape
        self.options = options
        switch options.layout(shape: shape) {
        case .diagonal:
            structure = .diagonal(DiagonalPreconditioner(
                count: shape.reduce(1, *), curvatureLearningRate: options.factor.curvatureLearningRate,
                exponent: options.diagonalExponent, damping: options.damping,
                initialValue: Scalar(options.initialEigenvalue)))
        case .blocks(let rowBands, let columnBands):
            var blocks: [Block] = []
            for rows in rowBands {
                for columns in columnBands {
                    blocks.append(Block(rows: rows, columns: columns, factors: makeBlock(rows.count, columns.count)))
                }
            }
            structure = .blocks(blocks)
        }
    }

    /// `0..<length` cut into the fewest nearly equal ranges of at most `limit` elements
    /// (`PreconditionerLayout.split`, the cut of a blocked side).
    public static func split(_ length: Int, limit: Int) -> [Range<Int>] {
        PreconditionerLayout.split(length, limit: limit)
    }

    /// The gradient as this preconditioner reads it: `rows x columns` for a matrix, `1 x n` for a vector.
    public var matrixShape: (rows: Int, columns: Int) {
        shape.count == 2 ? (shape[0], shape[1]) : (1, shape[0])
    }

    /// One curvature update from the gradient: every factor at the options' curvature
    /// learning rate.
    public func update(gradient: Matrix<Scalar>) throws(SpectralFactorError) {
        let rate = options.factor.curvatureLearningRate
        try update(gradient: gradient) { _ in FactorRates(left: rate, right: rate) }
    }

    /// One curvature update from the gradient, each block's factors as `rates(block)` says (the
    /// diagonal fallback, a cheap elementwise average, moves on every call). `factored`, the same
    /// gradient as `dY^T X`, is handed to a parameter of one block (blocks and the diagonal read
    /// `gradient`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(
        gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>? = nil, rates: (_ block: Block) -> FactorRates
    ) throws(SpectralFactorError) {
        let (rows, columns) = matrixShape
        precondition(gradient.rows == rows && gradient.columns == columns,
                     "ParameterPreconditioner.update: gradient is \(gradient.rows) x \(gradient.columns), parameter is \(shape)")
        switch structure {
        case .diagonal(let diagonal):
            diagonal.update(gradient: gradient)
        case .blocks(let blocks):
            if blocks.count == 1 {
                try blocks[0].factors.updateCurvature(gradient: gradient, factored: factored, rates: rates(blocks[0]))
                return
            }
            for block in blocks {
                let blockRates = rates(block)
                guard blockRates.left != nil || blockRates.right != nil else { continue }
                Self.copy(gradient, rows: block.rows, columns: block.columns, into: &blockGradient)
                try block.factors.updateCurvature(gradient: blockGradient, factored: nil, rates: blockRates)
            }
        }
    }

    /// Sets which sides of every block precondition with dense roots (see `KroneckerBlock`).
    public func setDenseRoots(_ choose: (Block) -> (left: Bool, right: Bool)) {
        if case .blocks(let blocks) = structure {
            for block in blocks { block.factors.denseRoots = choose(block) }
        }
    }

    /// Brings every block's roots up to date (eigendecomposition blocks; nothing for spectral ones).
    public func refreshRoots() throws {
        if case .blocks(let blocks) = structure {
            for block in blocks { try block.factors.refreshRoots() }
        }
    }

    /// `result` = the preconditioned gradient, block by block (`factored` as in `update`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func preconditionGradient(
        _ gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>? = nil, into result: inout Matrix<Scalar>
    ) {
        let (rows, columns) = matrixShape
        precondition(gradient.rows == rows && gradient.columns == columns,
                     "ParameterPreconditioner.preconditionGradient: gradient is \(gradient.rows) x \(gradient.columns), parameter is \(shape)")
        switch structure {
        case .diagonal(let diagonal):
            diagonal.preconditionGradient(gradient, into: &result)
        case .blocks(let blocks):
            if blocks.count == 1 {
                blocks[0].factors.preconditionGradient(gradient, factored: factored, power: options.power, damping: options.damping, into: &result)
                return
            }
            result.resize(rows: rows, columns: columns)
            for block in blocks {
                Self.copy(gradient, rows: block.rows, columns: block.columns, into: &blockGradient)
                block.factors.preconditionGradient(blockGradient, factored: nil, power: options.power, damping: options.damping, into: &blockResult)
                for (localRow, row) in block.rows.enumerated() {
                    for (localColumn, column) in block.columns.enumerated() {
                        result[row, column] = blockResult[localRow, localColumn]
                    }
                }
            }
        }
    }

    // MARK: - State

    /// The state as named tensors: "diagonal.s", or each block's under "block<index>" (what a
    /// checkpoint stores).
    public func stateTensors() -> [NamedTensor] {
        switch structure {
        case .diagonal(let diagonal):
            return diagonal.stateTensors()
        case .blocks(let blocks):
            return blocks.enumerated().flatMap { index, block in block.factors.stateTensors(prefix: Self.prefix(index)) }
        }
    }

    /// Restores the state `stateTensors()` saved.
    public func restore(from saved: SavedState) throws(SavedStateError) {
        switch structure {
        case .diagonal(let diagonal):
            try diagonal.restore(from: saved)
        case .blocks(let blocks):
            for (index, block) in blocks.enumerated() { try block.factors.restore(from: saved, prefix: Self.prefix(index)) }
        }
    }

    /// The measured health of every spectral factor, named "block<index>.L" and "block<index>.R".
    public func measureHealth() -> [(name: String, health: FactorHealth)] {
        guard case .blocks(let blocks) = structure else { return [] }
        return blocks.enumerated().flatMap { index, block in block.factors.measureHealth(prefix: Self.prefix(index)) }
    }

    /// The name prefix of block `index`'s state.
    private static func prefix(_ index: Int) -> String { "block\(index)" }

    private static func copy(_ source: Matrix<Scalar>, rows: Range<Int>, columns: Range<Int>, into block: inout Matrix<Scalar>) {
        block.resize(rows: rows.count, columns: columns.count)
        let width = source.columns
        source.withUnsafeBufferPointer { values in
            block.withUnsafeMutableBufferPointer { output in
                var index = 0
                for row in rows {
                    for column in columns {
                        output[index] = values[row * width + column]
                        index += 1
                    }
                }
            }
        }
    }
}
