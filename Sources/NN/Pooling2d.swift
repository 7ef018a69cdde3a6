/// Max and average pooling: a square window slides without padding over each channel of a
/// [channels, height, width] image and reduces to one output, so the output keeps the channels.
package protocol Pooling2d: ParameterFreeLayer {
    /// Window height and width.
    var kernel: Int { get }
    /// Step between windows.
    var stride: Int { get }
}

extension Pooling2d {
    package func outputShape(for inputShape: [Int]) throws(ModelError) -> [Int] {
        let window = try slidingWindow(for: inputShape)
        return [window.channels, window.outputHeight, window.outputWidth]
    }

    /// The geometry of the windows over an image of `inputShape`.
    func slidingWindow(for inputShape: [Int]) throws(ModelError) -> SlidingWindow {
        try SlidingWindow(layer: kind, inputShape: inputShape, kernel: kernel, stride: stride, padding: 0)
    }

    /// The stride of a pooling layer built with `kernel` and `stride` (`kernel` when nil: windows
    /// side by side), after checking both are at least 1; `layer` names it in the failure.
    static func checkedStride(layer: String, kernel: Int, stride: Int?) -> Int {
        precondition(kernel >= 1, "\(layer): kernel must be at least 1, got \(kernel)")
        precondition((stride ?? kernel) >= 1, "\(layer): stride must be at least 1, got \(stride ?? kernel)")
        return stride ?? kernel
    }
}
