import Linalg

/// The numerically stable softmax of one row, the rule the cross-entropy loss and attention share:
/// `scale · exp(z_i - max z) / Σ_j exp(z_j - max z)`, the maximum subtracted so that no
/// exponential overflows.
enum Softmax {
    /// Writes `scale · softmax(source[0..<count])` to `destination[0..<count]`; the two may be the
    /// same row.
    @inline(__always)
    static func write<Scalar: LinalgScalar>(
        from source: UnsafePointer<Scalar>, to destination: UnsafeMutablePointer<Scalar>, count: Int, scale: Scalar = 1
    ) {
        let maximum = VectorKernels.maximum(source, count: count)
        // Separate loops, so the exponentials (without a branch or call) vectorize; the sum in lanes.
        for index in 0..<count { destination[index] = Scalar.elementwiseExp(source[index] - maximum) }
        let normalizer = scale / VectorKernels.sum(destination, count: count)
        for index in 0..<count { destination[index] *= normalizer }
    }
}
