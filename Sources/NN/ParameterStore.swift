import Linalg

/// Every parameter of a model in ONE flat buffer, with its gradient in a second flat buffer of
/// the same layout, so optimizers, gradient all-reduce and checkpoints work on contiguous memory
/// while layers and optimizers address tensors through named views.
///
/// Both buffers are allocated once, zero-initialised and freed with the store; their addresses
/// never change, so layers may keep pointers into them for the store's lifetime.
package final class ParameterStore<Scalar: LinalgScalar> {
    /// The tensors in order, at consecutive offsets.
    package let specs: [ParameterSpec]
    /// The total number of elements.
    package let count: Int
    /// All parameter values, tensor after tensor.
    package let values: UnsafeMutableBufferPointer<Scalar>
    /// All gradients, in the layout of `values`.
    package let gradients: UnsafeMutableBufferPointer<Scalar>

    private let indexByName: [String: Int]

    /// A store for `tensors`, in order; names must be unique and dimensions at least 1.
    package init(tensors: [(name: String, shape: [Int])]) {
        var specs: [ParameterSpec] = []
        var indexByName: [String: Int] = [:]
        var offset = 0
        for (index, tensor) in tensors.enumerated() {
            precondition(indexByName[tensor.name] == nil, "ParameterStore: tensor name '\(tensor.name)' appears twice")
            let spec = ParameterSpec(name: tensor.name, shape: tensor.shape, offset: offset)
            specs.append(spec)
            indexByName[tensor.name] = index
            offset += spec.count
        }
        self.specs = specs
        self.indexByName = indexByName
        self.count = offset
        values = Self.allocateZeroed(count: offset)
        gradients = Self.allocateZeroed(count: offset)
    }

    deinit {
        values.baseAddress!.deallocate()
        gradients.baseAddress!.deallocate()
    }

    /// The values of tensor `index` (a view into `values`).
    package func values(at index: Int) -> UnsafeMutableBufferPointer<Scalar> {
        let spec = specs[index]
        return UnsafeMutableBufferPointer(rebasing: values[spec.offset..<(spec.offset + spec.count)])
    }

    /// The gradient of tensor `index` (a view into `gradients`).
    package func gradients(at index: Int) -> UnsafeMutableBufferPointer<Scalar> {
        let spec = specs[index]
        return UnsafeMutableBufferPointer(rebasing: gradients[spec.offset..<(spec.offset + spec.count)])
    }

    /// The position of the tensor called `name` in `specs`, or nil.
    package func index(of name: String) -> Int? {
        indexByName[name]
    }

    /// Sets every gradient to zero (backward passes accumulate into them).
    package func zeroGradients() {
        // All bits zero is 0.0 in Float and Double: a memset, fast also where this generic
        // method runs unspecialised.
        UnsafeMutableRawBufferPointer(gradients).initializeMemory(as: UInt8.self, repeating: 0)
        zeroings &+= 1
    }

    /// How many times the gradients were zeroed: a layer that keeps what one backward added
    /// (`FactoredGradientLayer`) tells by it whether a second backward added to the same gradient.
    package private(set) var zeroings = 0

    /// The two tensors at `indices` of a layer that has two (weight and bias, scale and shift),
    /// for it to keep after binding; `layer` names it in the failure when there are not two.
    func boundPair(at indices: [Int], layer: String) -> (BoundTensor<Scalar>, BoundTensor<Scalar>) {
        precondition(indices.count == 2, "\(layer).bind: \(indices.count) parameter indices, expected 2")
        return (boundTensor(at: indices[0]), boundTensor(at: indices[1]))
    }

    /// Tensor `index` for a layer to keep after binding.
    func boundTensor(at index: Int) -> BoundTensor<Scalar> {
        BoundTensor(store: self, index: index, values: values(at: index).baseAddress!, gradients: gradients(at: index).baseAddress!)
    }

    private static func allocateZeroed(count: Int) -> UnsafeMutableBufferPointer<Scalar> {
        // One element at least, so the base address exists for an empty store.
        let storage = UnsafeMutablePointer<Scalar>.allocate(capacity: max(count, 1))
        storage.initialize(repeating: 0, count: max(count, 1))
        return UnsafeMutableBufferPointer(start: storage, count: count)
    }
}

/// One tensor of a `ParameterStore` as a bound layer keeps it: its index, for initialisation, and
/// the addresses of its values and gradient, for the passes, valid while the store lives (the
/// bound tensor keeps it alive).
struct BoundTensor<Scalar: LinalgScalar> {
    let store: ParameterStore<Scalar>
    let index: Int
    let values: UnsafeMutablePointer<Scalar>
    let gradients: UnsafeMutablePointer<Scalar>
}
