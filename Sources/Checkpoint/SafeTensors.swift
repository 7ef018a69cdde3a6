import Foundation
import Support

/// The element types stored in checkpoint tensors, with safetensors' names.
public enum TensorDType: String, Codable, Sendable, CaseIterable {
    /// Float32, the trainer's parameters and optimizer state.
    case float32 = "F32"
    /// Float64, for state that must survive exactly (a gradient-free search's).
    case float64 = "F64"
    /// Int64, for counters (a factor's updates and failures, a search's evaluations).
    case int64 = "I64"
    /// bfloat16 (`Linalg.BFloat16`), for state kept at half the bytes and computed in Float32.
    case bfloat16 = "BF16"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bfloat16: 2
        case .float32: 4
        case .float64, .int64: 8
        }
    }
}

/// One tensor as stored: name, type, shape and its little-endian bytes.
public struct StoredTensor: Sendable, Equatable {
    /// The tensor's key in the file's header.
    public var name: String
    /// The element type, which sets the bytes per element.
    public var dtype: TensorDType
    /// The sides, outermost first (row-major, as safetensors stores); `[]` holds one element.
    public var shape: [Int]
    /// The elements' little-endian bytes in row-major order: `dtype.size` times the product of
    /// `shape`.
    public var bytes: [UInt8]

    /// A tensor from its raw bytes, which must number `byteCount(shape:dtype:)` (else a trap).
    public init(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
        precondition(Self.byteCount(shape: shape, dtype: dtype) == bytes.count, "StoredTensor \(name): \(bytes.count) bytes for \(shape) \(dtype)")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A Float32 tensor from its values in row-major order, as many as `shape` holds.
    public init(name: String, shape: [Int], floats: [Float]) {
        self.init(name: name, dtype: .float32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    /// An Int64 tensor from its values in row-major order, as many as `shape` holds.
    public init(name: String, shape: [Int], integers: [Int64]) {
        self.init(name: name, dtype: .int64, shape: shape, bytes: integers.withUnsafeBytes { Array($0) })
    }

    /// A Float64 tensor from its values in row-major order, as many as `shape` holds.
    public init(name: String, shape: [Int], doubles: [Double]) {
        self.init(name: name, dtype: .float64, shape: shape, bytes: doubles.withUnsafeBytes { Array($0) })
    }

    /// A bfloat16 tensor from its values' 16-bit patterns.
    public init(name: String, shape: [Int], bfloat16Bits: [UInt16]) {
        self.init(name: name, dtype: .bfloat16, shape: shape, bytes: bfloat16Bits.withUnsafeBytes { Array($0) })
    }

    /// The values of a Float32 tensor (this machine is little-endian, as the format is).
    public var floats: [Float] {
        precondition(dtype == .float32, "StoredTensor \(name) is \(dtype)")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The values of a Float64 tensor.
    public var doubles: [Double] {
        precondition(dtype == .float64, "StoredTensor \(name) is \(dtype)")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
    }

    /// The 16-bit patterns of a bfloat16 tensor.
    public var bfloat16Bits: [UInt16] {
        precondition(dtype == .bfloat16, "StoredTensor \(name) is \(dtype)")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
    }

    /// The values of a Float32 or bfloat16 tensor as Float32 (bfloat16 widened exactly: its bits
    /// are a Float32's upper half); nil for other types.
    public var realValues: [Float]? {
        switch dtype {
        case .float32: floats
        case .bfloat16: bfloat16Bits.map { Float(bitPattern: UInt32($0) << 16) }
        case .float64, .int64: nil
        }
    }

    /// The values of an Int64 tensor.
    public var integers: [Int64] {
        precondition(dtype == .int64, "StoredTensor \(name) is \(dtype)")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
    }

    /// SHA-256 of the bytes, hex.
    public var sha256: String { SHA256.hex(bytes) }

    /// The bytes a tensor of `shape` and `dtype` holds, or nil for a negative side or a count
    /// that overflows `Int` (so no shape from a file can trap).
    public static func byteCount(shape: [Int], dtype: TensorDType) -> Int? {
        var total = dtype.size
        for side in shape {
            guard side >= 0 else { return nil }
            let product = total.multipliedReportingOverflow(by: side)
            guard !product.overflow else { return nil }
            total = product.partialValue
        }
        return total
    }
}

/// The safetensors file format (huggingface/safetensors): an 8-byte little-endian header length,
/// a JSON header `{"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
/// "__metadata__": {...}}` padded with spaces to a multiple of 8, then the tensors' bytes, back to
/// back. Python reads it with `safetensors.numpy.load_file`.
public enum SafeTensors {
    /// The largest header accepted when reading (the format's own limit is 100 MB).
    static let maximumHeaderLength = 100_000_000

    /// The file's bytes: tensors in name order, contiguous.
    public static func encode(_ tensors: [StoredTensor], metadata: [String: String]) -> [UInt8] {
        var header: [String: JSONValue] = ["__metadata__": .object(metadata.mapValues { .string($0) })]
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for tensor in ordered {
            header[tensor.name] = .object([
                "dtype": .string(tensor.dtype.rawValue),
                "shape": .array(tensor.shape.map { .number(Double($0)) }),
                "data_offsets": .array([.number(Double(offset)), .number(Double(offset + tensor.bytes.count))]),
            ])
            offset += tensor.bytes.count
        }
        var json = Array(JSONValue.object(header).compactText().utf8)
        while (8 + json.count) % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        for tensor in ordered { bytes.append(contentsOf: tensor.bytes) }
        return bytes
    }

    /// Parses and validates a file's bytes; every problem is a one-line `CheckpointError` naming
    /// `path`. No input traps or allocates more than the file's own size.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> (tensors: [String: StoredTensor], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw CheckpointError(path, "not a safetensors file (\(bytes.count) bytes, shorter than its 8-byte header length)") }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(min(maximumHeaderLength, bytes.count - 8)) else {
            throw CheckpointError(path, "not a safetensors file (header length \(headerLength) exceeds the file's \(bytes.count) bytes; truncated or not a checkpoint)")
        }
        let dataStart = 8 + Int(headerLength)
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(Array(bytes[8..<dataStart]))
        } catch {
            throw CheckpointError(path, "header is not JSON (\(error.problem) at byte \(8 + error.offset))")
        }
        guard case .object(let header) = parsed else { throw CheckpointError(path, "header is not a JSON object") }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard case .object(let values) = raw else { throw CheckpointError(path, "__metadata__ is not an object of strings") }
            for (key, value) in values {
                guard let text = value.string else {
                    throw CheckpointError(path, "__metadata__ \(Untrusted.quote(key)) is not a string")
                }
                metadata[key] = text
            }
        }
        var entries: [HeaderEntry] = []
        for (name, value) in header where name != "__metadata__" {
            entries.append(try HeaderEntry(name: name, value: value, path: path))
        }
        entries.sort { $0.begin < $1.begin || ($0.begin == $1.begin && $0.name < $1.name) }
        var position = 0
        for entry in entries {
            guard entry.begin == position else {
                throw CheckpointError(path, "tensor \(Untrusted.quote(entry.name)): data_offsets leave a gap or overlap at byte \(position) of the data")
            }
            position = entry.end
        }
        let available = bytes.count - dataStart
        guard position <= available else {
            throw CheckpointError(path, "truncated: the tensors need \(position) bytes of data, the file holds \(available)")
        }
        guard position == available else {
            throw CheckpointError(path, "\(available - position) bytes after the last tensor")
        }
        var tensors: [String: StoredTensor] = [:]
        for entry in entries {
            tensors[entry.name] = StoredTensor(
                name: entry.name, dtype: entry.dtype, shape: entry.shape,
                bytes: Array(bytes[(dataStart + entry.begin)..<(dataStart + entry.end)]))
        }
        return (tensors, metadata)
    }

    /// One tensor's header entry, checked on its own: a known dtype, and a shape whose bytes are
    /// exactly its data offsets' span.
    private struct HeaderEntry {
        var name: String
        var dtype: TensorDType
        var shape: [Int]
        var begin: Int
        var end: Int

        init(name: String, value: JSONValue, path: String) throws(CheckpointError) {
            let label = "tensor \(Untrusted.quote(name))"
            guard case .object(let entry) = value, let typeName = entry["dtype"]?.string,
                  case .array(let sides)? = entry["shape"], case .array(let offsetValues)? = entry["data_offsets"]
            else { throw CheckpointError(path, "\(label): entry needs dtype, shape and data_offsets") }
            guard let dtype = TensorDType(rawValue: typeName) else {
                throw CheckpointError(path, "\(label): unsupported dtype \(Untrusted.quote(typeName))")
            }
            let shape = sides.compactMap { $0.integer }
            guard shape.count == sides.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw CheckpointError(path, "\(label): shape is not a list of whole numbers >= 0")
            }
            let offsets = offsetValues.compactMap { $0.integer }
            guard offsetValues.count == 2, offsets.count == 2, offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw CheckpointError(path, "\(label): data_offsets is not [begin, end] with 0 <= begin <= end")
            }
            let expected = StoredTensor.byteCount(shape: shape, dtype: dtype)
            guard offsets[1] - offsets[0] == expected else {
                let needed = expected.map { "\($0)" } ?? "more than fit in memory"
                throw CheckpointError(path, "\(label): offsets hold \(offsets[1] - offsets[0]) bytes, shape \(Untrusted.list(shape)) \(typeName) needs \(needed)")
            }
            (self.name, self.dtype, self.shape, begin, end) = (name, dtype, shape, offsets[0], offsets[1])
        }
    }
}
