/// The LU factorization of a square matrix by LAPACK `?getrf`, for repeated solves `A X = B` or
/// `X A = B` by `?getrs` (the Cayley retraction solves one `X A = B` per step).
///
/// Storage is kept between `factor` calls of the same size, so a step that refactors does not
/// allocate.
public struct LUFactorization<Scalar: LinalgScalar> {
    /// The factored matrix's size.
    public private(set) var dimension: Int = 0
    /// The packed factors of A^T in column-major order, which is A's row-major memory.
    private var factors = Matrix<Scalar>(rows: 0, columns: 0)
    private var pivots: [Int32] = []
    private var columnMajorRightHandSide = Matrix<Scalar>(rows: 0, columns: 0)

    /// An empty factorization; call `factor(_:)` before `solve(_:)`.
    public init() {}

    /// Factors `a`.
    public init(_ a: Matrix<Scalar>) throws {
        try factor(a)
    }

    /// Factors the square matrix `a`, replacing any earlier factorization.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public mutating func factor(_ a: Matrix<Scalar>) throws {
        precondition(a.isSquare, "LUFactorization: matrix is \(a.rows) x \(a.columns), not square")
        guard a.allFinite else { throw LinalgError.nonFiniteInput(routine: "\(Scalar.typeName) getrf") }
        dimension = a.rows
        factors.assign(a)
        if pivots.count != dimension { pivots = [Int32](repeating: 0, count: dimension) }
        if dimension == 0 { return }
        let n = blasInt(dimension)
        BLAS.productOperations.add(2 &* dimension &* dimension &* dimension / 3, ordering: .relaxed)
        // Row-major A is column-major A^T; getrf factors A^T and getrs solves with its transpose.
        let info = factors.withUnsafeMutableBufferPointer { a in
            pivots.withUnsafeMutableBufferPointer { pivots in
                Scalar._getrf(n, a.baseAddress!, n, pivots.baseAddress!)
            }
        }
        if info < 0 { throw LinalgError.invalidArgument(routine: "\(Scalar.typeName) getrf", position: Int(-info)) }
        if info > 0 { throw LinalgError.singular(routine: "\(Scalar.typeName) getrf", pivot: Int(info)) }
    }

    /// Overwrites `b` (dimension x any) with the solution `X` of `A X = B`.
    public mutating func solve(_ b: inout Matrix<Scalar>) throws {
        precondition(
            b.rows == dimension,
            "LUFactorization.solve: right-hand side has \(b.rows) rows, matrix is \(dimension) x \(dimension)")
        if dimension == 0 || b.columns == 0 { return }
        BLAS.productOperations.add(2 &* dimension &* dimension &* b.columns, ordering: .relaxed)
        b.transpose(into: &columnMajorRightHandSide)
        let (n, count) = (blasInt(dimension), blasInt(b.columns))
        let info = factors.withUnsafeBufferPointer { a in
            pivots.withUnsafeBufferPointer { pivots in
                columnMajorRightHandSide.withUnsafeMutableBufferPointer { rhs in
                    Scalar._getrs(true, n, count, a.baseAddress!, n, pivots.baseAddress!, rhs.baseAddress!, n)
                }
            }
        }
        if info < 0 { throw LinalgError.invalidArgument(routine: "\(Scalar.typeName) getrs", position: Int(-info)) }
        columnMajorRightHandSide.transpose(into: &b)
    }

    /// Overwrites `b` (any x dimension) with the solution `X` of `X A = B`: the row-major memory of
    /// X and B is the column-major memory of `X^T` and `B^T`, and `X A = B` is `A^T X^T = B^T`,
    /// the system the stored factors of `A^T` solve directly, so no transposes are made.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func solveFromRight(_ b: inout Matrix<Scalar>) throws {
        precondition(
            b.columns == dimension,
            "LUFactorization.solveFromRight: right-hand side has \(b.columns) columns, matrix is \(dimension) x \(dimension)")
        if dimension == 0 || b.rows == 0 { return }
        let (n, count) = (blasInt(dimension), blasInt(b.rows))
        BLAS.productOperations.add(2 &* dimension &* dimension &* b.rows, ordering: .relaxed)
        let info = factors.withUnsafeBufferPointer { a in
            pivots.withUnsafeBufferPointer { pivots in
                b.withUnsafeMutableBufferPointer { rhs in
                    Scalar._getrs(false, n, count, a.baseAddress!, n, pivots.baseAddress!, rhs.baseAddress!, n)
                }
            }
        }
        if info < 0 { throw LinalgError.invalidArgument(routine: "\(Scalar.typeName) getrs", position: Int(-info)) }
    }
}
