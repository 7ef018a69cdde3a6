/// How a parameter of one shape is preconditioned: a grid of Kronecker factor pairs, or the
/// diagonal fallback. `PreconditionerOptions.layout(shape:)` is the one place that decides it.
public enum PreconditionerLayout: Equatable, Sendable {
    /// One pair of factors per (row band, column band), row band by row band; a matrix whose
    /// sides fit `maxFactorDimension` is a single block.
    case blocks(rowBands: [Range<Int>], columnBands: [Range<Int>])
    /// The diagonal fallback: 1-D parameters, and matrices too large to factor under
    /// `largeDimensions: diagonal`.
    case diagonal

    /// The number of Kronecker blocks (0 for the diagonal fallback).
    public var blockCount: Int {
        switch self {
        case .blocks(let rowBands, let columnBands): rowBands.count * columnBands.count
        case .diagonal: 0
        }
    }

    /// `0..<length` cut into the fewest nearly equal ranges of at most `limit` elements
    /// (3000 with limit 1024 becomes 1000 + 1000 + 1000), so that no block is much smaller than
    /// the others.
    public static func split(_ length: Int, limit: Int) -> [Range<Int>] {
        let parts = (length + limit - 1) / limit
        let (base, remainder) = length.quotientAndRemainder(dividingBy: parts)
        var ranges: [Range<Int>] = []
        var start = 0
        for part in 0..<parts {
            let size = base + (part < remainder ? 1 : 0)
            ranges.append(start..<(start + size))
            start += size
        }
        return ranges
    }
}

extension PreconditionerOptions {
    /// The layout for a parameter of `shape` (`[n]` or `[rows, columns]`): the diagonal fallback
    /// for a vector, and for a matrix with a side longer than `maxFactorDimension` under
    /// `largeDimensions: diagonal`; otherwise Kronecker blocks, each side split by
    /// `PreconditionerLayout.split` at `maxFactorDimension`.
    public func layout(shape: [Int]) -> PreconditionerLayout {
        precondition((1...2).contains(shape.count) && shape.allSatisfy { $0 >= 1 },
                     "PreconditionerOptions.layout: shape \(shape) is not [n] or [rows, columns]")
        let tooLarge = shape.contains { $0 > maxFactorDimension }
        if shape.count == 1 || (tooLarge && largeDimensions == .diagonal) { return .diagonal }
        return .blocks(
            rowBands: PreconditionerLayout.split(shape[0], limit: maxFactorDimension),
            columnBands: PreconditionerLayout.split(shape[1], limit: maxFactorDimension))
    }
}
