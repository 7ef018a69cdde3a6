import Linalg
import Support

/// How a preconditioner keeps its learned matrices between steps: Float32, or bfloat16 (half the
/// memory and checkpoint bytes; every computation still runs in Float32 on the widened values).
///
/// For spectral factors, bfloat16 applies to the eigenvectors `B` (k² values); the eigenvalues
/// `d` (k values) stay Float32, because their multiplicative steps `d ⊙ map(m)` are often smaller
/// than bfloat16's half unit (2^-9) and would round away (docs/algorithm.md, "bfloat16").
public enum StateDType: String, NamedChoice {
    /// Kept as computed, in the factor's own precision (Float32 in training); the default.
    case float32
    /// bfloat16 storage, rounded after every change: 8 significant bits (a rounding moves a value
    /// by at most 2^-9 of itself); for `Float` factors only.
    case bfloat16
}

/// bfloat16 conversions of `Float` matrices held as generic `Scalar` (a factor with bfloat16
/// storage is always a `Float` factor: its initialiser checks).
enum BFloat16Matrix {
    /// Rounds every element of `matrix` to bfloat16 in place.
    static func round<Scalar: LinalgScalar>(_ matrix: inout Matrix<Scalar>) {
        matrix.withUnsafeMutableBufferPointer { values in
            values.withMemoryRebound(to: Float.self) { BFloat16.round($0) }
        }
    }

    /// The bfloat16 bits of `matrix`'s elements (exact when they are already rounded).
    static func bits<Scalar: LinalgScalar>(_ matrix: Matrix<Scalar>) -> [UInt16] {
        var bits = [UInt16](repeating: 0, count: matrix.rows * matrix.columns)
        matrix.withUnsafeBufferPointer { values in
            values.withMemoryRebound(to: Float.self) { floats in
                bits.withUnsafeMutableBufferPointer { BFloat16.store(floats, into: $0) }
            }
        }
        return bits
    }

    /// Rounds `matrix` to bfloat16 in place and into `bits` (resized to match); returns the
    /// rounding's squared Frobenius norm (`BFloat16.storeRounding`).
    static func storeRounding<Scalar: LinalgScalar>(_ matrix: inout Matrix<Scalar>, into bits: inout [UInt16]) -> Double {
        let count = matrix.rows * matrix.columns
        if bits.count != count { bits = [UInt16](repeating: 0, count: count) }
        return matrix.withUnsafeMutableBufferPointer { values in
            values.withMemoryRebound(to: Float.self) { floats in
                bits.withUnsafeMutableBufferPointer { BFloat16.storeRounding(floats, into: $0) }
            }
        }
    }

    /// Widens `bits` into `matrix` (of as many elements).
    static func load<Scalar: LinalgScalar>(_ bits: [UInt16], into matrix: inout Matrix<Scalar>) {
        matrix.withUnsafeMutableBufferPointer { values in
            values.withMemoryRebound(to: Float.self) { floats in
                bits.withUnsafeBufferPointer { BFloat16.load($0, into: floats) }
            }
        }
    }
}
