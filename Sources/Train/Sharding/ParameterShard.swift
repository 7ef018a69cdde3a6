import NN
import Optim
import Spectral

/// The unit of ownership and of optimizer state: a whole parameter tensor, one block of a matrix
/// that the preconditioner splits because a side exceeds `maxFactorDimension`, or one row band of
/// a large matrix that an elementwise optimizer (SGD, AdamW) updates.
///
/// Blocks of one matrix are independent for the optimizer (each has its own factors, grafting
/// norm and momentum, as in Distributed Shampoo), so different ranks can own them: the expensive
/// layers of a model no longer pile up on one rank. An elementwise optimizer treats every element
/// on its own, so a band's update is exactly the tensor's update on those rows; its state is the
/// matching slice of the tensor's, which checkpoints keep whole under the tensor's name
/// (`stateName`, `stateSlice`), so a checkpoint does not depend on the world size.
package struct ParameterShard: Sendable, Equatable {
    /// The tensor's index in the parameter store.
    package let tensor: Int
    /// "1_linear.weight", or "7_linear.weight#r0c3" for the block in row band 0, column band 3.
    package let name: String
    /// The block's rows and columns in the tensor read as a matrix (`1 x n` for a vector).
    package let rows: Range<Int>
    package let columns: Range<Int>
    /// Offset of the tensor in the flat buffers and its row length as a matrix.
    package let tensorOffset: Int
    package let tensorColumns: Int
    /// Whether the shard is the whole tensor (then it is contiguous in the flat buffers).
    package let isWholeTensor: Bool
    /// The shape the optimizer sees: the tensor's own shape for a whole tensor, `[rows, columns]` for a block or band.
    package let shape: [Int]
    /// The name a checkpoint keeps the shard's optimizer state under: its own, or for a row band
    /// the tensor's.
    package let stateName: String

    /// For a row band, its elements' range within the tensor: its state is that slice of the
    /// tensor's (one value per element); nil for a shard whose state is its own.
    package var stateSlice: Range<Int>? { stateName == name ? nil : tensorElements }

    package var count: Int { rows.count * columns.count }

    /// Whether the shard's elements are one contiguous run of the flat buffers (whole rows).
    package var isContiguous: Bool { columns.count == tensorColumns }

    /// The shard's elements within its tensor, when it is contiguous.
    package var tensorElements: Range<Int> { rows.lowerBound * tensorColumns..<rows.upperBound * tensorColumns }

    /// The shard's elements in the flat buffers, when it is contiguous.
    package var flatElements: Range<Int> { (tensorOffset + tensorElements.lowerBound)..<(tensorOffset + tensorElements.upperBound) }

    init(
        tensor: Int, name: String, rows: Range<Int>, columns: Range<Int>, tensorOffset: Int, tensorColumns: Int,
        isWholeTensor: Bool, shape: [Int], stateName: String? = nil
    ) {
        (self.tensor, self.name, self.rows, self.columns) = (tensor, name, rows, columns)
        (self.tensorOffset, self.tensorColumns, self.isWholeTensor, self.shape) = (tensorOffset, tensorColumns, isWholeTensor, shape)
        self.stateName = stateName ?? name
    }

    /// The shards of `specs` under `optimizer` on `ranks` ranks: a matrix that
    /// `OptimizerConfig.treatment(of:)` preconditions in more than one Kronecker block is cut into
    /// those blocks (Spectral and Eigen-Shampoo with `largeDimensions: block`); on several ranks a
    /// matrix updated elementwise that holds more than half a rank's even share of the elements
    /// is cut into `ranks` row bands (`rowBands`), so that no rank updates most of the model alone;
    /// everything else is one shard.
    package static func shards(of specs: [ParameterSpec], optimizer: OptimizerConfig, ranks: Int) -> [ParameterShard] {
        let tensors = specs.map { ParameterInfo(name: $0.name, shape: $0.shape) }
        let elementwiseTotal = tensors.lazy.filter { optimizer.treatment(of: $0) == .elementwise }.reduce(0) { $0 + $1.count }
        var shards: [ParameterShard] = []
        for (index, spec) in specs.enumerated() {
            let tensor = tensors[index]
            let matrix = tensor.matrixShape
            let whole = ParameterShard(
                tensor: index, name: spec.name, rows: 0..<matrix.rows, columns: 0..<matrix.columns,
                tensorOffset: spec.offset, tensorColumns: matrix.columns, isWholeTensor: true, shape: spec.shape)
            switch optimizer.treatment(of: tensor) {
            case .elementwise:
                guard ranks > 1, tensor.isMatrix, matrix.rows > 1, 2 * ranks * tensor.count > elementwiseTotal else {
                    shards.append(whole)
                    continue
                }
                for (band, rows) in rowBands(rows: matrix.rows, count: ranks).enumerated() {
                    shards.append(ParameterShard(
                        tensor: index, name: "\(spec.name)#b\(band)", rows: rows, columns: 0..<matrix.columns,
                        tensorOffset: spec.offset, tensorColumns: matrix.columns, isWholeTensor: false,
                        shape: [rows.count, matrix.columns], stateName: spec.name))
                }
            case .preconditioned(let layout):
                guard layout.blockCount > 1, case .blocks(let rowBands, let columnBands) = layout else {
                    shards.append(whole)
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
        }
        return shards
    }

    /// `rows` cut into `min(count, rows)` bands whose sizes differ by at most one, the larger first.
    static func rowBands(rows: Int, count: Int) -> [Range<Int>] {
        let bands = min(count, rows)
        let (size, extra) = rows.quotientAndRemainder(dividingBy: bands)
        var start = 0
        return (0..<bands).map { band in
            let end = start + size + (band < extra ? 1 : 0)
            defer { start = end }
            return start..<end
        }
    }

    /// The optimizer's view of the shard.
    package var info: ParameterInfo { ParameterInfo(name: name, shape: shape) }

    /// Copies the shard's elements (row by row) from a flat buffer to `destination`.
    @inline(__always)
    package func gather(from buffer: UnsafeMutableBufferPointer<Float>, into destination: UnsafeMutablePointer<Float>) {
        var target = destination
        for row in rows {
            (target).update(from: buffer.baseAddress! + tensorOffset + row * tensorColumns + columns.lowerBound, count: columns.count)
            target += columns.count
        }
    }

    /// Copies the shard's elements from `source` (row by row) back into a flat buffer.
    @inline(__always)
    package func scatter(from source: UnsafePointer<Float>, into buffer: UnsafeMutableBufferPointer<Float>) {
        var origin = source
        for row in rows {
            (buffer.baseAddress! + tensorOffset + row * tensorColumns + columns.lowerBound).update(from: origin, count: columns.count)
            origin += columns.count
        }
    }
}
