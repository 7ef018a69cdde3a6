/// Elementwise and diagonal kernels on matrices: the non-GEMM steps of the spectral update
/// (scalings by `Diag(d)`, the Newton-Schulz combination, norms and health checks).
///
/// All mutate in place and allocate nothing; they are `@inlinable` so callers get code
/// specialized for `Float` or `Double`.
extension Matrix {
    /// `self *= factor`.
    @inlinable
    public mutating func scale(by factor: Scalar) {
        withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] *= factor }
        }
    }

    /// `self = alpha * self + beta * other` (axpby; `alpha = 1` is axpy).
    @inlinable
    public mutating func combine(_ alpha: Scalar, _ beta: Scalar, _ other: Matrix) {
        precondition(
            rows == other.rows && columns == other.columns,
            "Matrix.combine: \(rows) x \(columns) with \(other.rows) x \(other.columns)")
        other.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { values in
                for index in values.indices { values[index] = alpha * values[index] + beta * source[index] }
            }
        }
    }

    /// `self += scale * other`.
    @inlinable
    public mutating func add(_ other: Matrix, scaledBy scale: Scalar = 1) {
        combine(1, scale, other)
    }

    /// Elementwise (Hadamard) product `self = self ⊙ other`.
    @inlinable
    public mutating func multiplyElementwise(by other: Matrix) {
        precondition(
            rows == other.rows && columns == other.columns,
            "Matrix.multiplyElementwise: \(rows) x \(columns) with \(other.rows) x \(other.columns)")
        other.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { values in
                for index in values.indices { values[index] *= source[index] }
            }
        }
    }

    /// `self = Diag(factors) * self`: row i scaled by `factors[i]`.
    @inlinable
    public mutating func scaleRows(by factors: [Scalar]) {
        precondition(factors.count == rows, "Matrix.scaleRows: \(factors.count) factors for \(rows) rows")
        let columns = self.columns
        withUnsafeMutableBufferPointer { values in
            for row in 0..<factors.count {
                let factor = factors[row]
                for column in 0..<columns { values[row * columns + column] *= factor }
            }
        }
    }

    /// `self = self * Diag(factors)`: column j scaled by `factors[j]`.
    @inlinable
    public mutating func scaleColumns(by factors: [Scalar]) {
        precondition(factors.count == columns, "Matrix.scaleColumns: \(factors.count) factors for \(columns) columns")
        let (rows, columns) = (self.rows, self.columns)
        withUnsafeMutableBufferPointer { values in
            factors.withUnsafeBufferPointer { factors in
                for row in 0..<rows {
                    for column in 0..<columns { values[row * columns + column] *= factors[column] }
                }
            }
        }
    }

    /// `self += value * I` on the leading square part.
    @inlinable
    public mutating func addToDiagonal(_ value: Scalar) {
        let (length, stride) = (Swift.min(rows, columns), columns + 1)
        withUnsafeMutableBufferPointer { values in
            for index in 0..<length { values[index * stride] += value }
        }
    }

    /// The diagonal of the leading square part.
    @inlinable
    public var diagonal: [Scalar] {
        let (length, stride) = (Swift.min(rows, columns), columns + 1)
        return withUnsafeBufferPointer { values in (0..<length).map { values[$0 * stride] } }
    }

    /// Writes the diagonal of the leading square part into `result`, reusing its storage.
    @inlinable
    public func copyDiagonal(into result: inout [Scalar]) {
        let (length, stride) = (Swift.min(rows, columns), columns + 1)
        if result.count != length { result = [Scalar](repeating: 0, count: length) }
        withUnsafeBufferPointer { values in
            for index in 0..<length { result[index] = values[index * stride] }
        }
    }

    /// Applies `transform` to every element.
    @inlinable
    public mutating func apply(_ transform: (Scalar) -> Scalar) {
        withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] = transform(values[index]) }
        }
    }

    /// Replaces a square matrix by its symmetric part `(A + A^T) / 2`.
    @inlinable
    public mutating func symmetrize() {
        precondition(isSquare, "Matrix.symmetrize: \(rows) x \(columns) is not square")
        let n = rows
        withUnsafeMutableBufferPointer { values in
            for row in 0..<n {
                for column in (row + 1)..<n {
                    let mean = (values[row * n + column] + values[column * n + row]) / 2
                    values[row * n + column] = mean
                    values[column * n + row] = mean
                }
            }
        }
    }

    /// Copies the upper triangle of a square matrix onto its lower triangle (`sign = -1`: its
    /// negation, completing a skew-symmetric matrix).
    ///
    /// Tiled, writing rows of the lower triangle contiguously and reading the upper triangle
    /// column-wise: with power-of-two sizes a column of a row-major matrix maps to one cache set,
    /// and strided writes thrash it (measured at k = 1024: 1.0 ms this way, 2.5 ms with strided
    /// writes).
    /// From k = 256 the tile rows are split over the rank's cores (`ParallelLoop`), paired long
    /// with short so each core copies about half the triangle.
    @inlinable
    public mutating func copyUpperToLower(sign: Scalar = 1) {
        precondition(isSquare, "Matrix.copyUpperToLower: \(rows) x \(columns) is not square")
        let n = rows
        let tile = 64
        let tileRows = (n + tile - 1) / tile
        withUnsafeMutableBufferPointer { values in
            guard let base = values.baseAddress else { return }
            // Tile row r holds r + 1 tiles: index i takes rows 0, last, 1, last - 1, ... so that
            // contiguous chunks of indices hold near-equal work.
            ParallelLoop.forEach(count: tileRows, workers: n >= ParallelLoop.splitDimension ? BLASThreading.threads : 1) { index, _ in
                let tileRow = ParallelLoop.pairedIndex(index, of: tileRows)
                let rowStart = tileRow * tile
                let rowEnd = Swift.min(rowStart + tile, n)
                for columnStart in stride(from: 0, to: rowEnd, by: tile) {
                    let columnEnd = Swift.min(columnStart + tile, n)
                    for row in rowStart..<rowEnd {
                        let stop = Swift.min(columnEnd, row)
                        var column = columnStart
                        while column < stop {
                            base[row * n + column] = sign * base[column * n + row]
                            column += 1
                        }
                    }
                }
            }
        }
    }

    /// `||A - I||_F` of a symmetric matrix stored in its upper triangle (the lower is not read):
    /// `sqrt(sum_i (a_ii - 1)² + 2 sum_{i<j} a_ij²)`, one read-only pass split over the cores
    /// (`ParallelLoop.forEachTriangleRow`), the rows' sums kept in `rowSums` and added in row
    /// order, so the value does not depend on the worker count.
    @inlinable
    public func distanceToIdentityFromUpper(rowSums: inout [Scalar]) -> Scalar {
        precondition(isSquare, "Matrix.distanceToIdentityFromUpper: \(rows) x \(columns) is not square")
        let n = rows
        if rowSums.count != n { rowSums = [Scalar](repeating: 0, count: n) }
        withUnsafeBufferPointer { values in
            rowSums.withUnsafeMutableBufferPointer { sums in
                guard let base = values.baseAddress, let sums = sums.baseAddress else { return }
                ParallelLoop.forEachTriangleRow(n) { row in
                    let start = row * n
                    let offDiagonal = VectorKernels.sumOfSquares(base + start + row + 1, count: n - row - 1)
                    let diagonal = base[start + row] - 1
                    sums[row] = diagonal * diagonal + 2 * offDiagonal
                }
            }
        }
        return rowSums.reduce(0, +).squareRoot()
    }

    /// Sets every element to zero.
    @inlinable
    public mutating func setZero() {
        withUnsafeMutableBufferPointer { values in values.update(repeating: 0) }
    }

    /// The Frobenius norm `sqrt(sum a_ij^2)` (by BLAS `?dot`, vectorised).
    @inlinable
    public var frobeniusNorm: Scalar {
        withUnsafeBufferPointer { values in BLAS.dot(values, values).squareRoot() }
    }

    /// The largest absolute element (0 for an empty matrix).
    @inlinable
    public var maxAbsolute: Scalar {
        withUnsafeBufferPointer { values in values.reduce(0) { Swift.max($0, Swift.abs($1)) } }
    }

    /// The sum of the diagonal of a square matrix.
    @inlinable
    public var trace: Scalar {
        precondition(isSquare, "Matrix.trace: \(rows) x \(columns) is not square")
        let stride = columns + 1
        return withUnsafeBufferPointer { values in
            var sum: Scalar = 0
            for index in 0..<rows { sum += values[index * stride] }
            return sum
        }
    }

    /// Whether every element is finite (no NaN, no infinity).
    @inlinable
    public var allFinite: Bool {
        withUnsafeBufferPointer { values in values.allSatisfy { $0.isFinite } }
    }

    /// `||self - other||_F / ||other||_F`, the relative error used throughout the tests.
    @inlinable
    public func relativeDistance(to other: Matrix) -> Scalar {
        precondition(
            rows == other.rows && columns == other.columns,
            "Matrix.relativeDistance: \(rows) x \(columns) with \(other.rows) x \(other.columns)")
        var difference = self
        difference.add(other, scaledBy: -1)
        return difference.frobeniusNorm / other.frobeniusNorm
    }

    /// The same matrix in another precision.
    @inlinable
    public func converted<Other: LinalgScalar>(to _: Other.Type = Other.self) -> Matrix<Other> {
        Matrix<Other>(rows: rows, columns: columns, elements: elements.map { Other($0) })
    }

    /// The elementwise sum, as a new matrix; the shapes must match.
    @inlinable
    public static func + (lhs: Matrix, rhs: Matrix) -> Matrix {
        var result = lhs
        result.add(rhs)
        return result
    }

    /// The elementwise difference, as a new matrix; the shapes must match.
    @inlinable
    public static func - (lhs: Matrix, rhs: Matrix) -> Matrix {
        var result = lhs
        result.add(rhs, scaledBy: -1)
        return result
    }

    /// Every element of `matrix` times `scale`, as a new matrix.
    @inlinable
    public static func * (scale: Scalar, matrix: Matrix) -> Matrix {
        var result = matrix
        result.scale(by: scale)
        return result
    }
}
