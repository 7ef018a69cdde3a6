import Linalg

/// `op(A) op(B)` by three nested loops in Float64: the reference every BLAS wrapper is checked against.
func naiveProduct<Scalar: LinalgScalar>(
    _ a: Matrix<Scalar>, _ b: Matrix<Scalar>, transposeA: Bool = false, transposeB: Bool = false
) -> Matrix<Double> {
    let opA = transposeA ? a.transposed : a
    let opB = transposeB ? b.transposed : b
    precondition(opA.columns == opB.rows)
    return Matrix<Double>(rows: opA.rows, columns: opB.columns) { row, column in
        var sum = 0.0
        for inner in 0..<opA.columns { sum += Double(opA[row, inner]) * Double(opB[inner, column]) }
        return sum
    }
}

/// A random symmetric matrix with the given eigenvalues, and its eigenbasis.
func symmetricMatrix(eigenvalues values: [Double], using generator: inout SeededGenerator) -> (matrix: Matrix<Double>, basis: Matrix<Double>) {
    let basis = Matrix<Double>.randomOrthogonal(values.count, using: &generator)
    var scaled = basis
    scaled.scaleColumns(by: values)
    var result = BLAS.product(scaled, basis, transposeB: true)
    result.symmetrize()
    return (result, basis)
}

/// `||Q^T Q - I||_F`.
func orthogonalityError<Scalar: LinalgScalar>(_ q: Matrix<Scalar>) -> Scalar {
    var gram = BLAS.product(q, q, transposeA: true)
    gram.addToDiagonal(-1)
    return gram.frobeniusNorm
}
