import Checkpoint
import Linalg

/// An optimizer state tensor (`NamedTensor`) and its stored form in a checkpoint (`StoredTensor`):
/// the one mapping between the two, in both directions.
extension NamedTensor {
    /// The checkpoint type of the values.
    var dtype: TensorDType {
        switch storage {
        case .float32: .float32
        case .bfloat16: .bfloat16
        case .int64: .int64
        }
    }

    /// The values of `stored` (of a validated type), under the name `name`.
    init(_ stored: StoredTensor, name: String) {
        switch stored.dtype {
        case .float32: self.init(name: name, shape: stored.shape, values: stored.floats)
        case .bfloat16: self.init(name: name, shape: stored.shape, bfloat16Bits: stored.bfloat16Bits)
        case .int64: self.init(name: name, integers: stored.integers)
        case .float64:
            preconditionFailure("NamedTensor: \(name) is F64; optimizer state is validated as F32, BF16 or I64 before it is read")
        }
    }
}

extension StoredTensor {
    /// `tensor` stored under `name`.
    init(_ tensor: NamedTensor, name: String) {
        switch tensor.storage {
        case .float32(let values): self.init(name: name, shape: tensor.shape, floats: values)
        case .bfloat16(let bits): self.init(name: name, shape: tensor.shape, bfloat16Bits: bits)
        case .int64(let values): self.init(name: name, shape: tensor.shape, integers: values)
        }
    }
}
