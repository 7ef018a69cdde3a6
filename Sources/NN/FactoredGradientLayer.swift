import Linalg

/// A layer whose weight gradient is a product of two thin matrices, `dW = dY^T X` over the rows
/// of its batch, and that can keep them for an optimizer that multiplies through the factors
/// instead of `dW` (`FactoredGradient`).
///
/// Keeping costs a copy of `dY` and `X` per backward; the factors describe the gradient only
/// while it holds one backward's contribution, so a second backward before the gradients are
/// zeroed leaves none.
package protocol FactoredGradientLayer<Scalar>: Layer {
    /// The index in the parameter store of the weight whose gradient is factored.
    var factoredTensor: Int { get }
    /// The rows the factors have for a batch of `batch` samples.
    func factorRows(batch: Int) -> Int
    /// Starts keeping the factors of every backward (buffers sized at the first).
    func keepFactoredGradient()
    /// `dY` and `X` of the weight gradient as it stands, when kept and it holds one backward.
    var factoredGradient: FactoredGradient<Scalar>? { get }
}
