/// The eigendecomposition `A = V Diag(w) V^T` of a symmetric matrix by LAPACK `?syevd`
/// (divide and conquer), with its workspace kept between calls.
///
/// spectrain never needs this on its main path: it is the reference the spectral method is
/// tested against, and the root computation of the Eigen-Shampoo baseline (ALGORITHM.md section 4).
public struct SymmetricEigensolver<Scalar: LinalgScalar> {
    /// The matrix size this solver's workspace fits.
    public let dimension: Int
    private var work: [Scalar]
    private var integerWork: [Int32]

    /// A solver for `dimension x dimension` matrices; asks LAPACK for its optimal workspace once.
    public init(dimension: Int) {
        precondition(dimension >= 0, "SymmetricEigensolver: negative dimension \(dimension)")
        self.dimension = dimension
        var workSize: Scalar = 0
        var integerWorkSize: Int32 = 0
        var probe = [Scalar](repeating: 0, count: max(1, dimension * dimension))
        var eigenvalues = [Scalar](repeating: 0, count: max(1, dimension))
        if dimension > 0 {
            let info = probe.withUnsafeMutableBufferPointer { a in
                eigenvalues.withUnsafeMutableBufferPointer { w in
                    Scalar._syevd(
                        blasInt(dimension), a.baseAddress!, blasInt(dimension), w.baseAddress!,
                        &workSize, -1, &integerWorkSize, -1)
                }
            }
            precondition(info == 0, "SymmetricEigensolver: workspace query failed (info = \(info))")
        }
        work = [Scalar](repeating: 0, count: max(1, Int(workSize)))
        integerWork = [Int32](repeating: 0, count: max(1, Int(integerWorkSize)))
    }

    /// Decomposes the symmetric matrix `a`: `eigenvalues` ascending, `eigenvectors` holding the
    /// matching unit eigenvectors as columns. Both outputs are resized if needed and reused.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public mutating func decompose(
        _ a: Matrix<Scalar>, eigenvalues: inout [Scalar], eigenvectors: inout Matrix<Scalar>
    ) throws {
        precondition(
            a.rows == dimension && a.columns == dimension,
            "SymmetricEigensolver: matrix is \(a.rows) x \(a.columns), solver is for \(dimension) x \(dimension)")
        guard a.allFinite else { throw LinalgError.nonFiniteInput(routine: "\(Scalar.typeName) syevd") }
        if eigenvalues.count != dimension {
            eigenvalues = [Scalar](repeating: 0, count: dimension)
        }
        eigenvectors.assign(a)
        if dimension == 0 { return }
        let n = blasInt(dimension)
        let (workCount, integerWorkCount) = (blasInt(work.count), blasInt(integerWork.count))
        // A symmetric matrix reads the same in column-major order. LAPACK returns the eigenvectors
        // as columns of a column-major matrix, which is their transpose in row-major order.
        let info = eigenvectors.withUnsafeMutableBufferPointer { vectors in
            eigenvalues.withUnsafeMutableBufferPointer { values in
                work.withUnsafeMutableBufferPointer { work in
                    integerWork.withUnsafeMutableBufferPointer { integerWork in
                        Scalar._syevd(
                            n, vectors.baseAddress!, n, values.baseAddress!,
                            work.baseAddress!, workCount, integerWork.baseAddress!, integerWorkCount)
                    }
                }
            }
        }
        if info < 0 {
            throw LinalgError.invalidArgument(routine: "\(Scalar.typeName) syevd", position: Int(-info))
        }
        if info > 0 {
            throw LinalgError.eigensolverDidNotConverge(routine: "\(Scalar.typeName) syevd", info: Int(info))
        }
        eigenvectors.transposeInPlace()
    }

    /// Eigenvalues (ascending) and eigenvectors (columns) of the symmetric matrix `a`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func decompose(_ a: Matrix<Scalar>) throws -> (eigenvalues: [Scalar], eigenvectors: Matrix<Scalar>) {
        var solver = SymmetricEigensolver(dimension: a.rows)
        var eigenvalues: [Scalar] = []
        var eigenvectors = Matrix<Scalar>(rows: 0, columns: 0)
        try solver.decompose(a, eigenvalues: &eigenvalues, eigenvectors: &eigenvectors)
        return (eigenvalues, eigenvectors)
    }
}
