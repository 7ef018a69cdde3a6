/// A dense matrix stored row-major in one contiguous buffer, the layout every BLAS call here uses.
///
/// `Matrix` is a value type with copy-on-write storage. Hot code keeps matrices alive across steps
/// and writes into them (`BLAS.gemm(..., into: &c)`, the in-place kernels), so a training step does
/// not allocate; the operators that return new matrices are for set-up code and tests.
public struct Matrix<Scalar: LinalgScalar>: Equatable, Sendable {
    @usableFromInline var storedRows: Int
    @usableFromInline var storedColumns: Int
    @usableFromInline var storage: [Scalar]

    /// Number of rows.
    @inlinable public var rows: Int { storedRows }
    /// Number of columns.
    @inlinable public var columns: Int { storedColumns }
    /// The elements in row-major order: element (i, j) is at `i * columns + j`.
    @inlinable public var elements: [Scalar] { storage }

    /// A `rows x columns` matrix with every element equal to `value`.
    @inlinable
    public init(rows: Int, columns: Int, repeating value: Scalar = 0) {
        precondition(rows >= 0 && columns >= 0, "Matrix: negative dimension \(rows) x \(columns)")
        self.storedRows = rows
        self.storedColumns = columns
        self.storage = Array(repeating: value, count: rows * columns)
    }

    /// A `rows x columns` matrix taking `elements` in row-major order.
    @inlinable
    public init(rows: Int, columns: Int, elements: [Scalar]) {
        precondition(rows >= 0 && columns >= 0, "Matrix: negative dimension \(rows) x \(columns)")
        precondition(
            elements.count == rows * columns,
            "Matrix: \(elements.count) elements for a \(rows) x \(columns) matrix")
        self.storedRows = rows
        self.storedColumns = columns
        self.storage = elements
    }

    /// A `rows x columns` matrix whose element (i, j) is `element(i, j)`.
    @inlinable
    public init(rows: Int, columns: Int, element: (_ row: Int, _ column: Int) throws -> Scalar) rethrows {
        precondition(rows >= 0 && columns >= 0, "Matrix: negative dimension \(rows) x \(columns)")
        var values: [Scalar] = []
        values.reserveCapacity(rows * columns)
        for row in 0..<rows {
            for column in 0..<columns {
                values.append(try element(row, column))
            }
        }
        self.init(rows: rows, columns: columns, elements: values)
    }

    /// The `n x n` identity.
    @inlinable
    public static func identity(_ n: Int) -> Matrix {
        var result = Matrix(rows: n, columns: n)
        result.addToDiagonal(1)
        return result
    }

    /// The square matrix with `values` on its diagonal.
    @inlinable
    public static func diagonal(_ values: [Scalar]) -> Matrix {
        var result = Matrix(rows: values.count, columns: values.count)
        for (index, value) in values.enumerated() {
            result.storage[index * values.count + index] = value
        }
        return result
    }

    /// Number of elements, `rows * columns`.
    @inlinable
    public var count: Int { rows * columns }

    /// Whether the matrix has as many rows as columns.
    @inlinable
    public var isSquare: Bool { rows == columns }

    /// Element (row, column).
    @inlinable
    public subscript(row: Int, column: Int) -> Scalar {
        get {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns,
                         "Matrix: index (\(row), \(column)) outside \(rows) x \(columns)")
            return storage[row * columns + column]
        }
        set {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns,
                         "Matrix: index (\(row), \(column)) outside \(rows) x \(columns)")
            storage[row * columns + column] = newValue
        }
    }

    /// Reads the row-major elements in place.
    @inlinable
    public func withUnsafeBufferPointer<Result>(
        _ body: (UnsafeBufferPointer<Scalar>) throws -> Result
    ) rethrows -> Result {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Writes the row-major elements in place; the shape stays as it is.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws -> Result
    ) rethrows -> Result {
        try storage.withUnsafeMutableBufferPointer { buffer in try body(buffer) }
    }

    /// Gives this matrix a new shape, reusing its storage when the element count fits.
    ///
    /// The element values afterwards are unspecified; use it to size output and scratch matrices.
    @inlinable
    public mutating func resize(rows newRows: Int, columns newColumns: Int) {
        precondition(newRows >= 0 && newColumns >= 0, "Matrix: negative dimension \(newRows) x \(newColumns)")
        if newRows * newColumns != storage.count {
            storage = Array(repeating: 0, count: newRows * newColumns)
        }
        storedRows = newRows
        storedColumns = newColumns
    }

    /// Makes this matrix an exact copy of `other`, reusing storage when the sizes match.
    @inlinable
    public mutating func assign(_ other: Matrix) {
        resize(rows: other.rows, columns: other.columns)
        storage.withUnsafeMutableBufferPointer { destination in
            other.storage.withUnsafeBufferPointer { source in
                guard let base = source.baseAddress else { return }
                destination.baseAddress!.update(from: base, count: source.count)
            }
        }
    }

    /// The transpose, as a new matrix.
    @inlinable
    public var transposed: Matrix {
        var result = Matrix(rows: columns, columns: rows)
        transpose(into: &result)
        return result
    }

    /// Writes the transpose of this matrix into `result`, resizing it if needed (tiled, writing
    /// contiguously; see `copyUpperToLower`).
    @inlinable
    public func transpose(into result: inout Matrix) {
        result.resize(rows: columns, columns: rows)
        let (rows, columns) = (self.rows, self.columns)
        let tile = 64
        storage.withUnsafeBufferPointer { source in
            result.storage.withUnsafeMutableBufferPointer { destination in
                guard let from = source.baseAddress, let to = destination.baseAddress else { return }
                for outerRow in stride(from: 0, to: columns, by: tile) {
                    let outerRowEnd = Swift.min(outerRow + tile, columns)
                    for outerColumn in stride(from: 0, to: rows, by: tile) {
                        let outerColumnEnd = Swift.min(outerColumn + tile, rows)
                        for row in outerRow..<outerRowEnd {
                            for column in outerColumn..<outerColumnEnd {
                                to[row * rows + column] = from[column * columns + row]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Transposes a square matrix in place.
    @inlinable
    public mutating func transposeInPlace() {
        precondition(isSquare, "Matrix.transposeInPlace: \(rows) x \(columns) is not square")
        let n = rows
        let tile = 32
        storage.withUnsafeMutableBufferPointer { values in
            guard let base = values.baseAddress else { return }
            for rowStart in stride(from: 0, to: n, by: tile) {
                let rowEnd = Swift.min(rowStart + tile, n)
                for columnStart in stride(from: rowStart, to: n, by: tile) {
                    let columnEnd = Swift.min(columnStart + tile, n)
                    for row in rowStart..<rowEnd {
                        var column = Swift.max(columnStart, row + 1)
                        while column < columnEnd {
                            let upper = base[row * n + column]
                            base[row * n + column] = base[column * n + row]
                            base[column * n + row] = upper
                            column += 1
                        }
                    }
                }
            }
        }
    }
}

extension Matrix: CustomStringConvertible {
    public var description: String {
        var lines: [String] = []
        for row in 0..<rows {
            let values = (0..<columns).map { column in "\(self[row, column])" }
            lines.append("[" + values.joined(separator: ", ") + "]")
        }
        return "Matrix<\(Scalar.typeName)>(\(rows) x \(columns))\n" + lines.joined(separator: "\n")
    }
}
