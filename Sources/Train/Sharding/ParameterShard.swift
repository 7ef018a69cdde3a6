import NN
import Optim
import Spectral

/// The unit of ownership and of optimizer state: a whole parameter tensor, or one block of a
/// matrix that the preconditioner splits because a side exceeds `maxFactorDimension`.
///
/// Blocks of one matrix are independent for the optimizer (each has its own factors, grafting
/// norm and momentum, as in Distributed Shampoo), so different ranks can own them: the expensive
/// layers of a model no longer pile up on one rank.
public struct ParameterShard: Sendable, Equatable {
    /// The tensor's index in the parameter store.
    public let tensor: Int
    /// "1_linear.weight", or "7_linear.weight#r0c3" for the block in row band 0, column band 3.
    public let name: String
    /// The block's rows and columns in the tensor read as a matrix (`1 x n` for a vector).
    public let rows: Range<Int>
    public let columns: Range<Int>
    /// Offset of the tensor in the flat buffers and its row length as a matrix.
    public let tensorOffset: Int
    public let tensorColumns: Int
    /// Whether the shard is the whole tensor (then it is contiguous in the flat buffers).
    public let isWholeTensor: Bool
    /// The shape the optimizer sees: the tensor's own shape for a whole tensor, `[rows, columns]` for a block.
    public let shape: [Int]

    public var count: Int { rows.count * columns.count }

    /// The shards of `specs` under `optimizer`: a matrix that `OptimizerConfig.treatment(of:)`
    /// preconditions in more than one Kronecker block is cut into those blocks (Spectral and
    /// Eigen-Shampoo with `largeDimensions: block`); everything else is one shard.
    public static func shards(of specs: [ParameterSpec], optimizer: OptimizerConfig) -> [ParameterShard] {
        var shards: [ParameterShard] = []
        for (index, spec) in specs.enumerated() {
            let tensor = ParameterInfo(name: spec.name, shape: spec.shape)
            let matrix = tensor.matrixShape
            guard case .preconditioned(let layout) = optimizer.treatment(of: tensor), layout.blockCount > 1,
                  case .blocks(let rowBands, let columnBands) = layout else {
                shards.append(ParameterShard(
                    tensor: index, name: spec.name, rows: 0..<matrix.rows, columns: 0..<matrix.columns,
                    tensorOffset: spec.offset, tensorColumns: matrix.columns, isWholeTensor: true, shape: spec.shape))
                continue
            }
            for (rowBand, rows) in rowBands.enumerated() {
                for (columnBand, columns) in columnBands.enumerated() {
                    shards.append(ParameterShard(
                        tensor: index, name: "\(spec.name)#r\(rowBand)c\(columnBand)", rows: rows, columns: columns,
                        tensorOffset: spec.offset, tensorColumns: matrix.columns, isWholeTensor: false,
                        shape: [rows.count, columns.count]))
                }
            }
        }
        return shards
    }

    /// The optimizer's view of the shard.
    public var info: ParameterInfo { ParameterInfo(name: name, shape: shape) }

    /// Copies the shard's elements (row by row) from a flat buffer to `destination`.
    @inline(__always)
    public func gather(from buffer: UnsafeMutableBufferPointer<Float>, into destination: UnsafeMutablePointer<Float>) {
        var target = destination
        for row in rows {
            (target).update(from: buffer.baseAddress! + tensorOffset + row * tensorColumns + columns.lowerBound, count: columns.count)
            target += columns.count
        }
    }

    /// Copies the shard's elements from `source` (row by row) back into a flat buffer.
    @inline(__always)
    public func scatter(from source: UnsafePointer<Float>, into buffer: UnsafeMutableBufferPointer<Float>) {
        var origin = source
        for row in rows {
            (buffer.baseAddress! + tensorOffset + row * tensorColumns + columns.lowerBound).update(from: origin, count: columns.count)
            origin += columns.count
        }
    }
}
