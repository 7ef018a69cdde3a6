import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64): the same seed gives
/// the same sequence on every machine and Swift version, which `SystemRandomNumberGenerator` does not.
///
/// Everything random in spectrain (initialisation, sampling, test data) draws from one of these,
/// so runs are reproducible bit for bit from their seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The generator's full state; saving and restoring it resumes the sequence exactly.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose sequence is a pure function of `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// A generator that continues from a saved `state` (not all zero).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "SeededGenerator: the all-zero state is invalid")
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// A standard normal sample (Box-Muller on two uniforms; one value per call, reproducible).
    public mutating func nextGaussian<Scalar: BinaryFloatingPoint>(_: Scalar.Type = Double.self) -> Scalar {
        // Uniform in (0, 1]: never 0, so the logarithm is finite.
        let u1 = Double((next() >> 11) + 1) * 0x1.0p-53
        let u2 = Double(next() >> 11) * 0x1.0p-53
        let radius = (-2 * log(u1)).squareRoot()
        return Scalar(radius * cos(2 * Double.pi * u2))
    }

    public static func == (lhs: SeededGenerator, rhs: SeededGenerator) -> Bool {
        lhs.state == rhs.state
    }

    @inline(__always)
    private func rotateLeft(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }
}

extension Matrix {
    /// A matrix of independent uniform samples in `-scale..<scale`.
    public static func random(
        rows: Int, columns: Int, scale: Scalar = 1, using generator: inout SeededGenerator
    ) -> Matrix where Scalar.RawSignificand: FixedWidthInteger {
        Matrix(rows: rows, columns: columns) { _, _ in Scalar.random(in: -scale..<scale, using: &generator) }
    }

    /// A matrix of independent standard normal samples times `scale`.
    public static func gaussian(
        rows: Int, columns: Int, scale: Scalar = 1, using generator: inout SeededGenerator
    ) -> Matrix {
        Matrix(rows: rows, columns: columns) { _, _ in scale * generator.nextGaussian(Scalar.self) }
    }
}

extension Matrix {
    /// A random orthogonal matrix: modified Gram-Schmidt on the columns of a Gaussian matrix
    /// (test problems, benchmarks; not a hot path).
    public static func randomOrthogonal(_ n: Int, using generator: inout SeededGenerator) -> Matrix {
        var q = Matrix<Double>.gaussian(rows: n, columns: n, using: &generator)
        for column in 0..<n {
            for previous in 0..<column {
                var dot = 0.0
                for row in 0..<n { dot += q[row, column] * q[row, previous] }
                for row in 0..<n { q[row, column] -= dot * q[row, previous] }
            }
            var norm = 0.0
            for row in 0..<n { norm += q[row, column] * q[row, column] }
            norm = norm.squareRoot()
            for row in 0..<n { q[row, column] /= norm }
        }
        return q.converted(to: Scalar.self)
    }

    /// The symmetric matrix `Q Diag(eigenvalues) Q^T` for a random orthogonal `Q`.
    public static func randomSymmetric(eigenvalues: [Scalar], using generator: inout SeededGenerator) -> Matrix {
        let basis = randomOrthogonal(eigenvalues.count, using: &generator)
        var scaled = basis
        scaled.scaleColumns(by: eigenvalues)
        var result = BLAS.product(scaled, basis, transposeB: true)
        result.symmetrize()
        return result
    }
}
