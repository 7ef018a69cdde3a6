/// The element types of the IDX format, by their type byte; multi-byte types are big-endian.
public enum IDXElementType: UInt8, Sendable, CaseIterable {
    case uint8 = 0x08
    case int8 = 0x09
    case int16 = 0x0B
    case int32 = 0x0C
    case float32 = 0x0D
    case float64 = 0x0E

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }

    /// The type's name and byte, as error messages show it.
    public var label: String { "\(self) (0x\(Self.hex(rawValue)))" }

    static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }
}

/// One IDX file (the format of MNIST and Fashion-MNIST): a typed array of 1 to 4 dimensions,
/// read whole, plain or gzip-compressed, with every defect reported as a one-line `DataError`.
///
/// The layout: two zero bytes, the element type byte, the dimension count, each dimension as a
/// big-endian `UInt32`, then the elements in row-major order, big-endian, and nothing after them.
public struct IDXFile: Sendable {
    /// Files holding more elements than this are rejected as corrupt headers.
    public static let maximumElementCount = 1 << 31

    public let elementType: IDXElementType
    /// The size of each dimension, outermost first; each at least 1.
    public let dimensions: [Int]
    /// The data as stored: for `.uint8` the elements themselves, otherwise big-endian encodings.
    public let bytes: [UInt8]

    /// The number of elements, the product of `dimensions`.
    public var count: Int { dimensions.reduce(1, *) }

    /// Creates a file value in memory (for writing or tests); `bytes` must hold exactly
    /// `count * elementType.byteWidth` bytes.
    public init(elementType: IDXElementType, dimensions: [Int], bytes: [UInt8]) {
        precondition((1...4).contains(dimensions.count) && dimensions.allSatisfy { $0 > 0 },
                     "IDXFile: dimensions \(dimensions) must be 1 to 4 positive sizes")
        precondition(bytes.count == dimensions.reduce(1, *) * elementType.byteWidth,
                     "IDXFile: \(bytes.count) bytes for dimensions \(dimensions) of \(elementType)")
        self.elementType = elementType
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// Reads and validates the file at `path`, decompressing it if it is gzip.
    public static func read(path: String) throws(DataError) -> IDXFile {
        let reader = try ByteReader(path: path)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { scratch.deallocate() }

        let prefix = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<4]))
        if prefix == 0 { throw DataError(path, "the file is empty") }
        if prefix < 4 { throw DataError(path, "the file ends inside the IDX header (\(prefix) of 4 bytes)") }
        guard scratch[0] == 0, scratch[1] == 0 else {
            throw DataError(path, "not an IDX file (starts with \(IDXElementType.hex(scratch[0])) \(IDXElementType.hex(scratch[1])), expected 00 00)")
        }
        guard let elementType = IDXElementType(rawValue: scratch[2]) else {
            let supported = IDXElementType.allCases.map(\.label).joined(separator: ", ")
            throw DataError(path, "unsupported IDX element type 0x\(IDXElementType.hex(scratch[2])) (supported: \(supported))")
        }
        let rank = Int(scratch[3])
        guard (1...4).contains(rank) else {
            throw DataError(path, "IDX dimension count \(rank) is not in 1...4")
        }

        let headerBytes = 4 * rank
        let headerRead = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<headerBytes]))
        guard headerRead == headerBytes else {
            throw DataError(path, "the file ends inside the IDX header (\(4 + headerRead) of \(4 + headerBytes) bytes)")
        }
        let dimensions = (0..<rank).map { axis in
            (0..<4).reduce(0) { value, byte in value << 8 | Int(scratch[4 * axis + byte]) }
        }
        let shape = dimensions.map(String.init).joined(separator: " x ")
        if let axis = dimensions.firstIndex(of: 0) {
            throw DataError(path, "dimension \(axis) of \(shape) is zero")
        }
        var elements = 1
        for size in dimensions {
            elements *= size
            guard elements <= maximumElementCount else {
                throw DataError(path, "dimensions \(shape) claim more than 2^31 elements (corrupt header?)")
            }
        }

        let expected = elements * elementType.byteWidth
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(expected, 1 << 28))
        while bytes.count < expected {
            let wanted = min(scratch.count, expected - bytes.count)
            let count = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<wanted]))
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            if count < wanted {
                throw DataError(path, "expected \(expected) bytes of data, found \(bytes.count) (dimensions \(shape), \(elementType))")
            }
        }
        let trailing = try reader.skipToEnd()
        if trailing > 0 {
            throw DataError(path, "\(trailing) trailing bytes after the \(expected) bytes of data (dimensions \(shape), \(elementType))")
        }
        return IDXFile(elementType: elementType, dimensions: dimensions, bytes: bytes)
    }

    /// The elements converted to `Float` (exact for every type but large `int32` and `float64`).
    public func floats() -> [Float] {
        bytes.withUnsafeBytes { raw in
            switch elementType {
            case .uint8:
                return raw.map { Float($0) }
            case .int8:
                return raw.map { Float(Int8(bitPattern: $0)) }
            case .int16:
                return (0..<count).map { Float(Int16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).bigEndian)) }
            case .int32:
                return (0..<count).map { Float(Int32(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).bigEndian)) }
            case .float32:
                return (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).bigEndian) }
            case .float64:
                return (0..<count).map { Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self).bigEndian)) }
            }
        }
    }

    /// The file's encoding: header and data, uncompressed.
    public func encoded() -> [UInt8] {
        var result: [UInt8] = [0, 0, elementType.rawValue, UInt8(dimensions.count)]
        for size in dimensions {
            result += [UInt8(truncatingIfNeeded: size >> 24), UInt8(truncatingIfNeeded: size >> 16),
                       UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
        }
        return result + bytes
    }
}
