import Foundation
import Linalg
import Testing

@Suite("LAPACK wrappers: syevd and getrf/getrs")
struct LAPACKTests {
    @Test("syevd recovers a known spectrum and basis (Float64)")
    func eigenKnownSpectrum() throws {
        var generator = SeededGenerator(seed: 21)
        let values: [Double] = [-3, 0.5, 0.5, 2, 7, 11.25]
        let (a, _) = symmetricMatrix(eigenvalues: values, using: &generator)
        let (eigenvalues, eigenvectors) = try SymmetricEigensolver.decompose(a)
        // dsyevd is backward stable: eigenvalue errors are a few ulps of ||A|| (about 1e-15 here).
        for (computed, expected) in zip(eigenvalues, values.sorted()) {
            #expect(abs(computed - expected) < 1e-12)
        }
        #expect(orthogonalityError(eigenvectors) < 1e-12)
        var scaled = eigenvectors
        scaled.scaleColumns(by: eigenvalues)
        let reconstructed = BLAS.product(scaled, eigenvectors, transposeB: true)
        #expect(reconstructed.relativeDistance(to: a) < 1e-13)
        // Each column is an eigenvector: A v = lambda v.
        let av = BLAS.product(a, eigenvectors)
        #expect(av.relativeDistance(to: scaled) < 1e-12)
    }

    @Test("syevd on the 1-D Laplacian matches 2 - 2 cos(k pi / (n + 1)) (Float32)")
    func eigenLaplacian() throws {
        let n = 50
        let laplacian = Matrix<Float>(rows: n, columns: n) { row, column in
            row == column ? 2 : abs(row - column) == 1 ? -1 : 0
        }
        let (eigenvalues, eigenvectors) = try SymmetricEigensolver.decompose(laplacian)
        // Float32 eigenvalues of a matrix of norm 4 are accurate to a few ulps of 4 (about 1e-6).
        for (index, value) in eigenvalues.enumerated() {
            let exact = 2 - 2 * cos(Double(index + 1) * Double.pi / Double(n + 1))
            #expect(abs(Double(value) - exact) < 1e-5)
        }
        #expect(orthogonalityError(eigenvectors) < 1e-5)
    }

    @Test("the eigensolver reuses its workspace across calls and rejects NaN")
    func eigenReuseAndNaN() throws {
        var generator = SeededGenerator(seed: 4)
        var solver = SymmetricEigensolver<Double>(dimension: 12)
        var eigenvalues: [Double] = []
        var eigenvectors = Matrix<Double>(rows: 0, columns: 0)
        for round in 0..<3 {
            let values = (0..<12).map { Double($0 + round) }
            let (a, _) = symmetricMatrix(eigenvalues: values, using: &generator)
            try solver.decompose(a, eigenvalues: &eigenvalues, eigenvectors: &eigenvectors)
            for (computed, expected) in zip(eigenvalues, values) { #expect(abs(computed - expected) < 1e-12) }
        }
        var bad = Matrix<Double>.identity(12)
        bad[3, 3] = .nan
        #expect(throws: LinalgError.nonFiniteInput(routine: "Float64 syevd")) {
            try solver.decompose(bad, eigenvalues: &eigenvalues, eigenvectors: &eigenvectors)
        }
    }

    @Test("LU solves A X = B with several right-hand sides", arguments: [1, 4])
    func luSolve(rightHandSides: Int) throws {
        var generator = SeededGenerator(seed: 17)
        var a = Matrix<Double>.random(rows: 9, columns: 9, using: &generator)
        a.addToDiagonal(3) // comfortably non-singular
        let x = Matrix<Double>.random(rows: 9, columns: rightHandSides, using: &generator)
        var b = BLAS.product(a, x)
        var lu = try LUFactorization(a)
        try lu.solve(&b)
        // Condition number of A is small (diagonal shift 3), so the backward-stable solve is
        // accurate to about 1e-14.
        #expect(b.relativeDistance(to: x) < 1e-12)
    }

    @Test("LU solves X A = B from the right, Float64 and Float32", arguments: [false, true])
    func luSolveFromRight(single: Bool) throws {
        var generator = SeededGenerator(seed: 19)
        // Upper triangular plus noise: A and A^T differ, so a solve with the wrong one fails.
        var a = Matrix<Double>.random(rows: 7, columns: 7, using: &generator)
        for row in 0..<7 { for column in 0..<row { a[row, column] *= 0.1 } }
        a.addToDiagonal(3)
        let x = Matrix<Double>.random(rows: 4, columns: 7, using: &generator)
        let b = BLAS.product(x, a)
        if single {
            var solution = b.converted(to: Float.self)
            try LUFactorization(a.converted(to: Float.self)).solveFromRight(&solution)
            // Float32 rounding of a well-conditioned 7 x 7 solve: ~1e-6.
            #expect(solution.converted(to: Double.self).relativeDistance(to: x) < 1e-5)
        } else {
            var solution = b
            try LUFactorization(a).solveFromRight(&solution)
            #expect(solution.relativeDistance(to: x) < 1e-12)
        }
    }

    @Test("Cholesky: R is upper triangular with R^T R = A, and the congruence R B route equals B^T A B")
    func cholesky() throws {
        var generator = SeededGenerator(seed: 23)
        let a = Matrix<Double>.randomSymmetric(eigenvalues: [0.1, 0.5, 1, 2, 4, 9], using: &generator)
        let factor = try CholeskyFactor(a)
        let r = factor.upper
        for row in 0..<6 { for column in 0..<row { #expect(r[row, column] == 0) } }
        // Condition 90: the factorization is backward stable, errors ~1e-15 relative.
        #expect(BLAS.product(r, r, transposeA: true).relativeDistance(to: a) < 1e-13)
        let b = Matrix<Double>.random(rows: 6, columns: 4, using: &generator)
        var scratch = Matrix<Double>(rows: 0, columns: 0)
        var congruence = Matrix<Double>(rows: 0, columns: 0)
        factor.congruence(b, scratch: &scratch, into: &congruence)
        #expect(congruence.rows == 4 && congruence.columns == 4)
        #expect(congruence.relativeDistance(to: BLAS.product(BLAS.product(b, a, transposeA: true), b)) < 1e-13)
        #expect(congruence == congruence.transposed)
    }

    @Test("SymmetricCongruence: M^T A M through the Cholesky factor (definite A) and by products (indefinite A)")
    func symmetricCongruence() {
        var generator = SeededGenerator(seed: 29)
        let m = Matrix<Double>.random(rows: 5, columns: 3, using: &generator)
        for (spectrum, factored) in [([0.2, 0.5, 1, 3, 7], true), ([-2, -0.5, 0.3, 1, 4], false)] {
            let a = Matrix<Double>.randomSymmetric(eigenvalues: spectrum, using: &generator)
            let congruence = SymmetricCongruence(a)
            #expect((congruence.factor != nil) == factored)
            var scratch = Matrix<Double>(rows: 0, columns: 0)
            var result = Matrix<Double>(rows: 0, columns: 0)
            congruence.apply(to: m, scratch: &scratch, into: &result)
            // Entries ~1-10 over 5-term sums: rounding ~1e-15 relative.
            #expect(result.relativeDistance(to: BLAS.product(BLAS.product(m, a, transposeA: true), m)) < 1e-13)
            #expect(result == result.transposed)
        }
    }

    @Test("Cholesky rejects an indefinite matrix and NaN")
    func choleskyRejects() {
        let indefinite = Matrix<Double>(rows: 2, columns: 2, elements: [1, 2, 2, 1])
        #expect(throws: LinalgError.notPositiveDefinite(routine: "Float64 potrf", minor: 2)) { try CholeskyFactor(indefinite) }
        let bad = Matrix<Float>(rows: 2, columns: 2, elements: [1, .nan, .nan, 1])
        #expect(throws: LinalgError.nonFiniteInput(routine: "Float32 potrf")) { try CholeskyFactor(bad) }
    }

    @Test("LU of a non-symmetric Float32 matrix solves with the right orientation")
    func luOrientation() throws {
        // Upper triangular A: solving with A^T by mistake gives a visibly different answer.
        let a = Matrix<Float>(rows: 3, columns: 3, elements: [2, 1, 0, 0, 3, 1, 0, 0, 4])
        var b = Matrix<Float>(rows: 3, columns: 1, elements: [3, 4, 4])
        var lu = try LUFactorization(a)
        try lu.solve(&b)
        #expect(b.elements == [1, 1, 1])
    }

    @Test("LU reports a singular matrix")
    func luSingular() {
        let a = Matrix<Double>(rows: 3, columns: 3, elements: [1, 2, 3, 2, 4, 6, 1, 0, 1])
        #expect(throws: LinalgError.self) { try LUFactorization(a) }
        do {
            _ = try LUFactorization(a)
        } catch let error as LinalgError {
            if case .singular = error {} else { Issue.record("expected .singular, got \(error)") }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
