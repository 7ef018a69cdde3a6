import Checkpoint
import Foundation
import Linalg

/// One shard's optimizer state as bytes, to move it between ranks in one message: an 8-byte
/// little-endian header length, a JSON list of (name, shape, dtype), then each tensor's raw
/// little-endian values.
enum ShardState {
    struct Entry: Codable {
        var name: String
        var shape: [Int]
        var dtype: TensorDType
    }

    static func encode(_ tensors: [NamedTensor]) -> [UInt8] {
        let entries = tensors.map { Entry(name: $0.name, shape: $0.shape, dtype: $0.dtype) }
        let header = (try? JSONEncoder().encode(entries)) ?? Data()
        var bytes: [UInt8] = []
        var length = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        for tensor in tensors {
            switch tensor.storage {
            case .float32(let values): values.withUnsafeBytes { bytes.append(contentsOf: $0) }
            case .bfloat16(let bits): bits.withUnsafeBytes { bytes.append(contentsOf: $0) }
            case .int64(let values): values.withUnsafeBytes { bytes.append(contentsOf: $0) }
            }
        }
        return bytes
    }

    /// The tensors of `bytes`; an error naming `shard` when they do not parse.
    static func decode(_ bytes: [UInt8], shard: String) throws(TrainError) -> [NamedTensor] {
        func corrupt() -> TrainError { TrainError("optimizer state of \(shard) arrived corrupt") }
        guard bytes.count >= 8 else { throw corrupt() }
        let length = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= UInt64(bytes.count - 8),
              let entries = try? JSONDecoder().decode([Entry].self, from: Data(bytes[8..<(8 + Int(length))]))
        else { throw corrupt() }
        var position = 8 + Int(length)
        var tensors: [NamedTensor] = []
        for entry in entries {
            guard entry.shape.allSatisfy({ $0 >= 0 }) else { throw corrupt() }
            let (count, overflow) = entry.shape.reduce((1, false)) { partial, side in
                let product = partial.0.multipliedReportingOverflow(by: side)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, count <= (bytes.count - position) / entry.dtype.size else { throw corrupt() }
            let slice = bytes[position..<(position + count * entry.dtype.size)]
            switch entry.dtype {
            case .float32:
                tensors.append(NamedTensor(name: entry.name, shape: entry.shape, values: copied(slice, count: count)))
            case .bfloat16:
                tensors.append(NamedTensor(name: entry.name, shape: entry.shape, bfloat16Bits: copied(slice, count: count)))
            case .int64:
                tensors.append(NamedTensor(name: entry.name, integers: copied(slice, count: count)))
            case .float64:
                throw corrupt()
            }
            position += count * entry.dtype.size
        }
        return tensors
    }

    /// `count` values read from raw bytes (at any alignment).
    private static func copied<Value: BitwiseCopyable & ExpressibleByIntegerLiteral>(_ bytes: ArraySlice<UInt8>, count: Int) -> [Value] {
        var values = [Value](repeating: 0, count: count)
        values.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        return values
    }
}
