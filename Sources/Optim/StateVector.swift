/// A transform's per-element state (Adam's moments, momentum's velocity) in memory of its own,
/// allocated once: elementwise kernels write disjoint ranges of it from several threads at once,
/// which an `Array` held in a class property does not allow (each access is a mutating access
/// of the property, checked for exclusivity).
final class StateVector: @unchecked Sendable {
    // @unchecked: the buffer is shared only by elementwise kernels writing disjoint ranges, each
    // range from one thread, within one `Optimizer.update` call that waits for them all.
    /// The elements.
    let values: UnsafeMutableBufferPointer<Float>

    /// `count` zeros.
    init(count: Int) {
        values = .allocate(capacity: max(count, 1))
        values.initialize(repeating: 0)
    }

    deinit { values.deallocate() }

    /// The first element's address.
    var base: UnsafeMutablePointer<Float> { values.baseAddress! }

    /// The elements as an array (for checkpoints).
    var array: [Float] { Array(values) }

    /// Overwrites the elements with `saved`, which has as many.
    func assign(_ saved: [Float]) {
        precondition(saved.count == values.count, "StateVector.assign: \(saved.count) values for \(values.count)")
        _ = values.update(from: saved)
    }
}
