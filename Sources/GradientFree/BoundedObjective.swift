import Linalg

/// An objective evaluated through box bounds (`BoxBounds`, pycma's default boundary handling):
/// the search proposes any point `x`, the wrapped objective sees only `t(x)` in the box.
///
/// Evaluating allocates nothing after the first batch (the transformed points go to scratch kept
/// between calls), so an instance must be evaluated from one thread at a time.
public final class BoundedObjective: ObjectiveFunction {
    /// The function of points in the box.
    public let objective: any ObjectiveFunction
    /// The box the wrapped objective's points lie in.
    public let bounds: BoxBounds
    /// The number of coordinates, the bounds' and the wrapped objective's.
    public var dimension: Int { bounds.dimension }
    /// `t(x)` of `value`, and `t` of the rows of `values` (sized on first use).
    private var transformedPoint: [Double]
    private var transformedRows = Matrix<Double>(rows: 0, columns: 0)

    /// `objective` seen through `bounds`, which must have its dimension (check it with
    /// `BoxBounds(lower:upper:dimension: objective.dimension)`).
    public init(_ objective: any ObjectiveFunction, bounds: BoxBounds) {
        precondition(bounds.dimension == objective.dimension,
                     "BoundedObjective: bounds of dimension \(bounds.dimension) for an objective of dimension \(objective.dimension)")
        self.objective = objective
        self.bounds = bounds
        transformedPoint = [Double](repeating: 0, count: bounds.dimension)
    }

    public func beginRound(_ round: UInt64) {
        objective.beginRound(round)
    }

    /// `f(t(x))`.
    public func value(_ point: UnsafeBufferPointer<Double>) throws -> Double {
        transformedPoint.withUnsafeMutableBufferPointer { bounds.transform(point, into: $0) }
        return try transformedPoint.withUnsafeBufferPointer { try objective.value($0) }
    }

    /// `f(t(x))` of each row in `rows`: the rows are transformed into one scratch matrix and the
    /// wrapped objective gets them in one `values` call (one message for a command's batch protocol).
    public func values(of points: Matrix<Double>, rows: Range<Int>, into values: inout [Double]) throws {
        precondition(points.columns == dimension && rows.upperBound <= points.rows && rows.upperBound <= values.count,
                     "BoundedObjective.values: rows \(rows) of a \(points.rows) x \(points.columns) matrix into \(values.count) values, dimension \(dimension)")
        if transformedRows.rows != points.rows || transformedRows.columns != points.columns {
            transformedRows.resize(rows: points.rows, columns: points.columns)
        }
        let n = dimension
        points.withUnsafeBufferPointer { source in
            transformedRows.withUnsafeMutableBufferPointer { target in
                for row in rows {
                    let coordinates = (row * n)..<((row + 1) * n)
                    bounds.transform(UnsafeBufferPointer(rebasing: source[coordinates]), into: UnsafeMutableBufferPointer(rebasing: target[coordinates]))
                }
            }
        }
        try objective.values(of: transformedRows, rows: rows, into: &values)
    }

    /// `t(point)`: the point in the box that the search's `point` stands for, which is what a
    /// user is told the solution is.
    public func feasible(_ point: [Double]) -> [Double] {
        bounds.transform(point)
    }
}
