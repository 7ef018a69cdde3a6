/// Where one named parameter tensor lives in the flat parameter buffer, and its shape.
package struct ParameterSpec: Sendable, Equatable {
    /// The tensor's name, "<layer index>_<kind>.<suffix>" in a model (e.g. "1_linear.weight").
    package let name: String
    /// The tensor's shape, outermost dimension first (row-major).
    package let shape: [Int]
    /// The index of the tensor's first element in the flat buffer.
    package let offset: Int
    /// The number of elements, the product of `shape`.
    package let count: Int

    package init(name: String, shape: [Int], offset: Int) {
        precondition(shape.allSatisfy { $0 >= 1 }, "ParameterSpec: tensor '\(name)' has shape \(shape)")
        self.name = name
        self.shape = shape
        self.offset = offset
        self.count = shape.reduce(1, *)
    }

    /// The tensor seen as a matrix for matrix-aware optimizers: nil for a vector (or scalar),
    /// else `shape[0]` rows by the product of the other dimensions (a conv kernel
    /// [out, in, kh, kw] is out x (in kh kw), the matrix its GEMM multiplies by).
    package var matrixShape: (rows: Int, columns: Int)? {
        guard shape.count >= 2 else { return nil }
        return (shape[0], shape.dropFirst().reduce(1, *))
    }
}
