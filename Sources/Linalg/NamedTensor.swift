/// One tensor of optimizer state, named relative to its parameter (e.g. "adam.m", "block0.L.eigenvectors"):
/// the unit a checkpoint stores. Counters are 64-bit integers so that they survive exactly.
public struct NamedTensor: Sendable, Equatable {
    /// The values, flattened in `shape`'s order, with their element type.
    public enum Storage: Sendable, Equatable {
        /// Float32 values: the format of float state unless it is kept in bfloat16.
        case float32([Float])
        /// bfloat16 bits (`BFloat16`): state kept in half precision, stored as it is kept.
        case bfloat16([UInt16])
        /// Int64 values: counters, which must survive exactly.
        case int64([Int64])
    }

    /// The name relative to the parameter (`adam.m`), which the restoring code asks
    /// `SavedState` for.
    public var name: String
    /// The dimensions; their product is the number of values.
    public var shape: [Int]
    /// The values and their element type.
    public var storage: Storage

    /// A Float32 tensor of `values`, whose count must be the product of `shape`.
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "NamedTensor \(name): \(values.count) values for shape \(shape)")
        self.name = name
        self.shape = shape
        self.storage = .float32(values)
    }

    /// A Float32 tensor of `values` (exact for `Float`; a `Double` state is rounded to Float32, the
    /// checkpoint format).
    public init<Scalar: LinalgScalar>(name: String, shape: [Int], values: [Scalar]) {
        self.init(name: name, shape: shape, values: values.map { Float($0) })
    }

    /// A bfloat16 tensor of `bits`.
    public init(name: String, shape: [Int], bfloat16Bits bits: [UInt16]) {
        precondition(shape.reduce(1, *) == bits.count, "NamedTensor \(name): \(bits.count) values for shape \(shape)")
        self.name = name
        self.shape = shape
        self.storage = .bfloat16(bits)
    }

    /// An Int64 vector of `integers`.
    public init(name: String, integers: [Int64]) {
        self.name = name
        self.shape = [integers.count]
        self.storage = .int64(integers)
    }

    /// The values of a Float32 tensor, or of a bfloat16 one widened (exact); nil for integers.
    public var floats: [Float]? {
        switch storage {
        case .float32(let values): values
        case .bfloat16(let bits): bits.map(BFloat16.float)
        case .int64: nil
        }
    }

    /// The bits of a bfloat16 tensor; nil for others.
    public var bfloat16Bits: [UInt16]? {
        if case .bfloat16(let bits) = storage { return bits }
        return nil
    }

    /// The name of the element type in messages ("Float32", "bfloat16", "Int64").
    public var typeName: String {
        switch storage {
        case .float32: "Float32"
        case .bfloat16: "bfloat16"
        case .int64: "Int64"
        }
    }

    /// The values of an Int64 tensor; nil for floats.
    public var integers: [Int64]? {
        if case .int64(let values) = storage { return values }
        return nil
    }
}
