import Linalg
import Testing

@Suite("Matrix and elementwise kernels")
struct MatrixKernelTests {
    @Test("row and column scaling equal multiplication by a diagonal matrix")
    func diagonalScaling() {
        var generator = SeededGenerator(seed: 1)
        let a = Matrix<Double>.random(rows: 5, columns: 4, using: &generator)
        let left = [1.0, -2, 3, 0.5, 4]
        let right = [2.0, 0.25, -1, 3]
        var rows = a
        rows.scaleRows(by: left)
        var columns = a
        columns.scaleColumns(by: right)
        #expect(rows.relativeDistance(to: naiveProduct(.diagonal(left), a)) < 1e-15)
        #expect(columns.relativeDistance(to: naiveProduct(a, .diagonal(right))) < 1e-15)
    }

    @Test("combine, transpose, symmetrize, diagonal, trace, norms")
    func elementwise() {
        var a = Matrix<Double>(rows: 2, columns: 3, elements: [1, 2, 3, 4, 5, 6])
        let b = Matrix<Double>(rows: 2, columns: 3, elements: [1, 1, 1, 2, 2, 2])
        a.combine(2, -1, b)
        #expect(a.elements == [1, 3, 5, 6, 8, 10])
        #expect(a.transposed.elements == [1, 6, 3, 8, 5, 10])
        #expect(a.transposed.transposed == a)
        a.multiplyElementwise(by: b)
        #expect(a.elements == [1, 3, 5, 12, 16, 20])

        var square = Matrix<Double>(rows: 3, columns: 3, elements: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(square.trace == 15)
        #expect(square.diagonal == [1, 5, 9])
        #expect(square.frobeniusNorm == (285.0).squareRoot())
        #expect(square.maxAbsolute == 9)
        var inPlace = square
        inPlace.transposeInPlace()
        #expect(inPlace == square.transposed)
        square.symmetrize()
        #expect(square.elements == [1, 3, 5, 3, 5, 7, 5, 7, 9])
        square.addToDiagonal(-1)
        #expect(square.diagonal == [0, 4, 8])
        #expect(square.allFinite)
        square[1, 2] = .infinity
        #expect(!square.allFinite)
    }

    @Test("resize and assign reuse storage; identity and diagonal constructors")
    func construction() {
        var m = Matrix<Float>(rows: 2, columns: 6)
        m.resize(rows: 3, columns: 4)
        #expect(m.rows == 3 && m.columns == 4 && m.count == 12)
        m.assign(.identity(3))
        #expect(m == Matrix.diagonal([1, 1, 1]))
        #expect(Matrix<Float>.identity(0).count == 0)
    }
    /// Float64 throughout, so the only differences are summation order: 1e-13 relative.
    @Test("distanceToIdentityFromUpper reads only the upper triangle and equals ||A - I||_F (serial and split rows)", arguments: [1, 9, 300])
    func distanceToIdentityFromUpper(n: Int) {
        var generator = SeededGenerator(seed: 4)
        let random = Matrix<Double>.random(rows: n, columns: n, using: &generator)
        var symmetric = random
        symmetric.symmetrize()
        var expected = symmetric
        expected.addToDiagonal(-1)
        var upperOnly = symmetric
        for row in 0..<n { for column in 0..<row { upperOnly[row, column] = .nan } }
        var rowSums: [Double] = []
        let distance = upperOnly.distanceToIdentityFromUpper(rowSums: &rowSums)
        #expect(abs(distance - expected.frobeniusNorm) <= 1e-13 * expected.frobeniusNorm)
    }

    /// Float32 sums in SIMD lanes against a Float64 sum: relative 1e-6 (n terms, each rounding
    /// within an ulp of its partial sum, n up to 1001).
    @Test("sumOfSquares matches a Float64 sum for lengths around the SIMD width", arguments: [0, 1, 7, 8, 9, 64, 1001])
    func sumOfSquares(count: Int) {
        var generator = SeededGenerator(seed: 8)
        let values = Matrix<Float>.gaussian(rows: 1, columns: max(count, 1), using: &generator).elements
        let sum = values.withUnsafeBufferPointer { VectorKernels.sumOfSquares($0.baseAddress!, count: count) }
        let expected = values.prefix(count).reduce(0.0) { $0 + Double($1) * Double($1) }
        #expect(abs(Double(sum) - expected) <= 1e-6 * max(expected, 1e-30))
    }
}
