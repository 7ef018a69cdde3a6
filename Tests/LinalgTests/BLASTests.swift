import Linalg
import Testing

@Suite("BLAS wrappers against naive loops")
struct BLASTests {
    // Float32 products of length-k sums carry a rounding error of about k * 2^-24 relative to the
    // magnitude of the terms; with k <= 61 and well-scaled data 1e-5 leaves a 10x margin. Float64
    // is checked at 1e-12 for the same reason.
    static let floatTolerance = 1e-5
    static let doubleTolerance = 1e-12

    @Test("gemm: all four transpose combinations, Float32 and Float64", arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmTransposes(transposeA: Bool, transposeB: Bool) {
        var generator = SeededGenerator(seed: 7)
        let (m, n, k) = (37, 29, 61)
        func check<Scalar: LinalgScalar>(_: Scalar.Type, tolerance: Double) {
            let a = Matrix<Scalar>.random(
                rows: transposeA ? k : m, columns: transposeA ? m : k, using: &generator)
            let b = Matrix<Scalar>.random(
                rows: transposeB ? n : k, columns: transposeB ? k : n, using: &generator)
            var c = Matrix<Scalar>(rows: m, columns: n)
            BLAS.gemm(a, b, transposeA: transposeA, transposeB: transposeB, into: &c)
            let reference = naiveProduct(a, b, transposeA: transposeA, transposeB: transposeB)
            #expect(c.converted(to: Double.self).relativeDistance(to: reference) < tolerance)
        }
        check(Float.self, tolerance: Self.floatTolerance)
        check(Double.self, tolerance: Self.doubleTolerance)
    }

    @Test("gemm accumulates: C = alpha A B + beta C")
    func gemmAlphaBeta() {
        var generator = SeededGenerator(seed: 11)
        let a = Matrix<Double>.random(rows: 8, columns: 5, using: &generator)
        let b = Matrix<Double>.random(rows: 5, columns: 6, using: &generator)
        let c0 = Matrix<Double>.random(rows: 8, columns: 6, using: &generator)
        var c = c0
        BLAS.gemm(a, b, alpha: 2.5, beta: -0.5, into: &c)
        let expected = 2.5 * naiveProduct(a, b) - 0.5 * c0
        #expect(c.relativeDistance(to: expected) < Self.doubleTolerance)
    }

    @Test("raw gemm on a sub-block with leading dimensions larger than the block")
    func gemmLeadingDimensions() {
        var generator = SeededGenerator(seed: 3)
        // A is the 4 x 3 top-left block of a 6 x 9 buffer, B the 3 x 5 block at (1, 2) of a 4 x 8 buffer.
        let bigA = Matrix<Double>.random(rows: 6, columns: 9, using: &generator)
        let bigB = Matrix<Double>.random(rows: 4, columns: 8, using: &generator)
        var bigC = Matrix<Double>(rows: 4, columns: 7, repeating: 42)
        bigA.withUnsafeBufferPointer { a in
            bigB.withUnsafeBufferPointer { b in
                bigC.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(
                        transposeA: false, transposeB: false, m: 4, n: 5, k: 3, alpha: 1,
                        a: a.baseAddress!, lda: 9, b: b.baseAddress! + 1 * 8 + 2, ldb: 8,
                        beta: 0, c: c.baseAddress!, ldc: 7)
                }
            }
        }
        let blockA = Matrix<Double>(rows: 4, columns: 3) { bigA[$0, $1] }
        let blockB = Matrix<Double>(rows: 3, columns: 5) { bigB[$0 + 1, $1 + 2] }
        let reference = naiveProduct(blockA, blockB)
        for row in 0..<4 {
            for column in 0..<7 {
                if column < 5 {
                    #expect(abs(bigC[row, column] - reference[row, column]) < 1e-12)
                } else {
                    #expect(bigC[row, column] == 42, "gemm wrote outside the block at (\(row), \(column))")
                }
            }
        }
    }

    @Test("gemm with an empty inner dimension scales C by beta")
    func gemmEmptyInner() {
        let a = Matrix<Float>(rows: 3, columns: 0)
        let b = Matrix<Float>(rows: 0, columns: 2)
        var c = Matrix<Float>(rows: 3, columns: 2, repeating: 4)
        BLAS.gemm(a, b, beta: 0.5, into: &c)
        #expect(c == Matrix(rows: 3, columns: 2, repeating: 2))
    }

    @Test("syrk: A A^T and A^T A, full symmetric result", arguments: [false, true])
    func syrk(transpose: Bool) {
        var generator = SeededGenerator(seed: 5)
        let a = Matrix<Float>.random(rows: 13, columns: 21, using: &generator)
        let n = transpose ? 21 : 13
        let c0 = Matrix<Float>.random(rows: n, columns: n, using: &generator)
        var symmetricStart = c0
        symmetricStart.symmetrize()
        var c = symmetricStart
        BLAS.syrk(a, transpose: transpose, alpha: 0.5, beta: 2, into: &c)
        let product = transpose ? naiveProduct(a, a, transposeA: true) : naiveProduct(a, a, transposeB: true)
        let expected = 0.5 * product + 2 * symmetricStart.converted(to: Double.self)
        #expect(c.converted(to: Double.self).relativeDistance(to: expected) < Self.floatTolerance)
        #expect(c == c.transposed, "the lower triangle must mirror the upper")
    }

    @Test("gemv: y = alpha op(A) x + beta y", arguments: [false, true])
    func gemv(transpose: Bool) {
        var generator = SeededGenerator(seed: 9)
        let a = Matrix<Double>.random(rows: 7, columns: 4, using: &generator)
        let x = (0..<(transpose ? 7 : 4)).map { Double($0) - 1.5 }
        var y = [Double](repeating: 1, count: transpose ? 4 : 7)
        BLAS.gemv(a, x, transpose: transpose, alpha: 2, beta: 3, into: &y)
        let column = Matrix<Double>(rows: x.count, columns: 1, elements: x)
        let reference = naiveProduct(a, column, transposeA: transpose)
        for index in y.indices {
            #expect(abs(y[index] - (2 * reference[index, 0] + 3)) < 1e-12)
        }
    }
}

@Suite("BLAS symm and tiled copies")
struct SymmAndTilingTests {
    @Test("symm reads only the upper triangle, on either side", arguments: [true, false])
    func symm(right: Bool) {
        var generator = SeededGenerator(seed: 19)
        var a = Matrix<Double>.random(rows: 9, columns: 9, using: &generator)
        a.symmetrize()
        var upperOnly = a
        for row in 0..<9 { for column in 0..<row { upperOnly[row, column] = .nan } }
        let b = Matrix<Double>.random(rows: right ? 5 : 9, columns: right ? 9 : 5, using: &generator)
        let c0 = Matrix<Double>.random(rows: b.rows, columns: b.columns, using: &generator)
        var c = c0
        BLAS.symm(b, symmetric: upperOnly, symmetricOnRight: right, alpha: 2, beta: -1, into: &c)
        let product = right ? naiveProduct(b, a) : naiveProduct(a, b)
        #expect(c.relativeDistance(to: 2 * product - c0) < 1e-13)
    }

    @Test("tiled transpose and mirror match the definition across tile boundaries", arguments: [1, 31, 64, 65, 130])
    func tiling(n: Int) {
        var generator = SeededGenerator(seed: UInt64(n))
        let rectangle = Matrix<Float>.random(rows: n, columns: n + 7, using: &generator)
        var transposed = Matrix<Float>(rows: 0, columns: 0)
        rectangle.transpose(into: &transposed)
        #expect(transposed.rows == n + 7 && transposed.columns == n)
        #expect((0..<n).allSatisfy { row in (0..<(n + 7)).allSatisfy { transposed[$0, row] == rectangle[row, $0] } })

        var square = Matrix<Float>.random(rows: n, columns: n, using: &generator)
        let original = square
        square.transposeInPlace()
        #expect((0..<n).allSatisfy { row in (0..<n).allSatisfy { square[row, $0] == original[$0, row] } })

        for sign: Float in [1, -1] {
            var mirrored = original
            mirrored.copyUpperToLower(sign: sign)
            let correct = (0..<n).allSatisfy { row in
                (0..<n).allSatisfy { column in
                    mirrored[row, column] == (column >= row ? original[row, column] : sign * original[column, row])
                }
            }
            #expect(correct)
        }
    }
}
