import Foundation

/// The element types stored in checkpoint tensors, with safetensors' names.
public enum TensorDType: String, Codable, Sendable, CaseIterable {
    case float32 = "F32"
    case int64 = "I64"

    public var size: Int { self == .float32 ? 4 : 8 }
}

/// One tensor as stored: name, type, shape and its little-endian bytes.
public struct StoredTensor: Sendable, Equatable {
    public var name: String
    public var dtype: TensorDType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.reduce(1, *) * dtype.size == bytes.count, "StoredTensor \(name): \(bytes.count) bytes for \(shape) \(dtype)")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(name: String, shape: [Int], floats: [Float]) {
        self.init(name: name, dtype: .float32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    public init(name: String, shape: [Int], integers: [Int64]) {
        self.init(name: name, dtype: .int64, shape: shape, bytes: integers.withUnsafeBytes { Array($0) })
    }

    /// The values of a Float32 tensor (this machine is little-endian, as the format is).
    public var floats: [Float] {
        precondition(dtype == .float32, "StoredTensor \(name) is \(dtype)")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The values of an Int64 tensor.
    public var integers: [Int64] {
        precondition(dtype == .int64, "StoredTensor \(name) is \(dtype)")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
    }

    /// SHA-256 of the bytes, hex.
    public var sha256: String { SHA256.hex(bytes) }
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
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for tensor in ordered {
            header[tensor.name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + tensor.bytes.count]]
            offset += tensor.bytes.count
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        for tensor in ordered { bytes.append(contentsOf: tensor.bytes) }
        return bytes
    }

    /// Parses and validates a file's bytes; every problem is a `CheckpointError` naming `path`.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> (tensors: [String: StoredTensor], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw CheckpointError(path, "not a safetensors file (\(bytes.count) bytes, shorter than its 8-byte header length)") }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(min(maximumHeaderLength, bytes.count - 8)) else {
            throw CheckpointError(path, "not a safetensors file (header length \(headerLength) exceeds the file's \(bytes.count) bytes; truncated or not a checkpoint)")
        }
        let dataStart = 8 + Int(headerLength)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
        } catch {
            throw CheckpointError(path, "header is not JSON")
        }
        guard let header = object as? [String: Any] else { throw CheckpointError(path, "header is not a JSON object") }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let values = raw as? [String: String] else { throw CheckpointError(path, "__metadata__ is not an object of strings") }
            metadata = values
        }
        var entries = try header.filter { $0.key != "__metadata__" }.map { (name, value) throws(CheckpointError) in
            try HeaderEntry(name: name, value: value, path: path)
        }
        entries.sort { $0.begin < $1.begin || ($0.begin == $1.begin && $0.name < $1.name) }
        var position = 0
        for entry in entries {
            guard entry.begin == position else {
                throw CheckpointError(path, "tensor '\(entry.name)': data_offsets leave a gap or overlap at byte \(position)")
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

        init(name: String, value: Any, path: String) throws(CheckpointError) {
            guard let entry = value as? [String: Any],
                  let typeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw CheckpointError(path, "tensor '\(name)': entry needs dtype, shape and data_offsets") }
            guard let dtype = TensorDType(rawValue: typeName) else {
                throw CheckpointError(path, "tensor '\(name)': unsupported dtype \(typeName)")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw CheckpointError(path, "tensor '\(name)': invalid shape \(shape) or offsets \(offsets)")
            }
            let expected = shape.reduce(Optional(dtype.size)) { bytes, side in
                bytes.flatMap { bytes in
                    let product = bytes.multipliedReportingOverflow(by: side)
                    return product.overflow ? nil : product.partialValue
                }
            }
            guard offsets[1] - offsets[0] == expected else {
                let needed = expected.map { "\($0)" } ?? "more than fit in memory"
                throw CheckpointError(path, "tensor '\(name)': offsets hold \(offsets[1] - offsets[0]) bytes, shape \(shape) \(typeName) needs \(needed)")
            }
            (self.name, self.dtype, self.shape, begin, end) = (name, dtype, shape, offsets[0], offsets[1])
        }
    }
}
