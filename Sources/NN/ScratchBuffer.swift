/// Memory a layer keeps between its forward and backward passes (im2col columns, argmax
/// indices, dropout masks, normalisation statistics), allocated once at bind time for the
/// largest batch and freed with its owner, so forward and backward never allocate.
final class ScratchBuffer<Element> {
    /// The `count` zero-initialised (or `initialValue`) elements.
    let buffer: UnsafeMutableBufferPointer<Element>

    init(count: Int, initialValue: Element) {
        precondition(count >= 0, "ScratchBuffer: negative size \(count)")
        let storage = UnsafeMutablePointer<Element>.allocate(capacity: max(count, 1))
        storage.initialize(repeating: initialValue, count: max(count, 1))
        buffer = UnsafeMutableBufferPointer(start: storage, count: count)
    }

    deinit {
        buffer.baseAddress!.deinitialize(count: max(buffer.count, 1))
        buffer.baseAddress!.deallocate()
    }

    /// The first element's address.
    var base: UnsafeMutablePointer<Element> { buffer.baseAddress! }

    /// The first `count` elements (a batch's part of a buffer sized for the largest batch).
    func prefix(_ count: Int) -> UnsafeMutableBufferPointer<Element> {
        UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
    }
}
