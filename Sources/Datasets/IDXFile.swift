/// The element types of the IDX format, by their type byte; multi-byte types are big-endian.
package enum IDXElementType: UInt8, Sendable, CaseIterable {
    case uint8 = 0x08
    case int8 = 0x09
    case int16 = 0x0B
    case int32 = 0x0C
    case float32 = 0x0D
    case float64 = 0x0E

    /// Bytes per element.
    package var byteWidth: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }

    /// The type's name and byte, as error messages show it.
    package var label: String { "\(self) (0x\(Self.hex(rawValue)))" }

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
package struct IDXFile: Sendable {
    /// Files holding more elements than this are rejected as corrupt headers.
    package static let maximumElementCount = 1 << 31

    package let elementType: IDXElementType
    /// The size of each dimension, outermost first; each at least 1.
    package let dimensions: [Int]
    /// The data as stored: for `.uint8` the elements themselves, otherwise big-endian encodings.
    package let bytes: [UInt8]

    /// The number of elements, the product of `dimensions`.
    package var count: Int { dimensions.reduce(1, *) }

    /// Creates a file value in memory (for writing or tests); `bytes` must hold exactly
    /// `count * elementType.byteWidth` bytes.
    package init(elementType: IDXElementType, dimensions: [Int], bytes: [UInt8]) {
        precondition((1...4).contains(dimensions.count) && dimensions.allSatisfy { $0 > 0 },
                     "IDXFile: dimensions \(dimensions) must be 1 to 4 positive sizes")
        precondition(bytes.count == dimensions.reduce(1, *) * elementType.byteWidth,
                     "IDXFile: \(bytes.count) bytes for dimensions \(dimensions) of \(elementType)")
        self.elementType = elementType
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// Reads and validates the file at `path`, decompressing it if it is gzip.
    ///
    /// Nothing is allocated from the header alone: a plain file's size must match its dimensions
    /// before its data is read, and a gzip file is inflated no further than one byte past the
    /// data its dimensions promise (a decompression bomb stops there).
    package static func read(path: String) throws(DataError) -> IDXFile {
        let reader = try ByteReader(path: path)
        let header = try IDXHeader(reading: reader)
        let expected = header.dataByteCount
        let shape = header.shapeText
        if !reader.isCompressed {
            let available = reader.fileSize - header.byteCount
            if available < expected {
                throw DataError(path, "expected \(expected) bytes of data, found \(available) (dimensions \(shape), \(header.elementType))")
            }
            if available > expected {
                throw DataError(path, "\(available - expected) trailing bytes after the \(expected) bytes of data (dimensions \(shape), \(header.elementType))")
            }
        }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { scratch.deallocate() }
        var bytes: [UInt8] = []
        // Deflate expands at most about 1032:1, so the file's own size bounds what it can hold.
        let (inflatable, overflow) = reader.fileSize.multipliedReportingOverflow(by: 1032)
        bytes.reserveCapacity(min(expected, overflow ? expected : inflatable, 1 << 28))
        while bytes.count < expected {
            let wanted = min(scratch.count, expected - bytes.count)
            let count = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<wanted]))
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            if count < wanted {
                throw DataError(path, "expected \(expected) bytes of data, found \(bytes.count) (dimensions \(shape), \(header.elementType))")
            }
        }
        let beyond = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<1]))
        if beyond > 0 {
            throw DataError(path, "more bytes after the \(expected) bytes of data (dimensions \(shape), \(header.elementType)); decompression stopped there")
        }
        return IDXFile(elementType: header.elementType, dimensions: header.dimensions, bytes: bytes)
    }

    /// The element type and dimensions of the file at `path`, read from its header alone (a few
    /// bytes, inflated if it is gzip), with the header's checks of `read(path:)`.
    package static func readHeader(path: String) throws(DataError) -> (elementType: IDXElementType, dimensions: [Int]) {
        let header = try IDXHeader(reading: ByteReader(path: path))
        return (header.elementType, header.dimensions)
    }

    /// The elements converted to `Float` (exact for every type but large `int32` and `float64`).
    package func floats() -> [Float] {
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
    package func encoded() -> [UInt8] {
        var result: [UInt8] = [0, 0, elementType.rawValue, UInt8(dimensions.count)]
        for size in dimensions {
            result += [UInt8(truncatingIfNeeded: size >> 24), UInt8(truncatingIfNeeded: size >> 16),
                       UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
        }
        return result + bytes
    }
}

/// The header of an IDX file as read and checked: element type, dimensions (each at least 1,
/// their product at most `IDXFile.maximumElementCount`).
struct IDXHeader {
    let elementType: IDXElementType
    let dimensions: [Int]
    /// Bytes of data the dimensions promise (no overflow: the element count is bounded).
    let dataByteCount: Int

    /// Header bytes: the 4-byte prefix and 4 per dimension.
    var byteCount: Int { 4 + 4 * dimensions.count }
    /// The dimensions as messages show them ("60000 x 28 x 28").
    var shapeText: String { dimensions.map(String.init).joined(separator: " x ") }

    /// Reads the header from the start of `reader`'s content.
    init(reading reader: ByteReader) throws(DataError) {
        let path = reader.path
        let prefix = try Self.read(4, from: reader)
        let prefixRead = prefix.count
        if prefixRead == 0 { throw DataError(path, "the file is empty") }
        if prefixRead < 4 { throw DataError(path, "the file ends inside the IDX header (\(prefixRead) of 4 bytes)") }
        guard prefix[0] == 0, prefix[1] == 0 else {
            throw DataError(path, "not an IDX file (starts with \(IDXElementType.hex(prefix[0])) \(IDXElementType.hex(prefix[1])), expected 00 00)")
        }
        guard let elementType = IDXElementType(rawValue: prefix[2]) else {
            let supported = IDXElementType.allCases.map(\.label).joined(separator: ", ")
            throw DataError(path, "unsupported IDX element type 0x\(IDXElementType.hex(prefix[2])) (supported: \(supported))")
        }
        let rank = Int(prefix[3])
        guard (1...4).contains(rank) else {
            throw DataError(path, "IDX dimension count \(rank) is not in 1...4")
        }
        let sizes = try Self.read(4 * rank, from: reader)
        guard sizes.count == 4 * rank else {
            throw DataError(path, "the file ends inside the IDX header (\(4 + sizes.count) of \(4 + 4 * rank) bytes)")
        }
        let dimensions = (0..<rank).map { axis in
            (0..<4).reduce(0) { value, byte in value << 8 | Int(sizes[4 * axis + byte]) }
        }
        let shape = dimensions.map(String.init).joined(separator: " x ")
        if let axis = dimensions.firstIndex(of: 0) {
            throw DataError(path, "dimension \(axis) of \(shape) is zero")
        }
        var elements = 1
        for size in dimensions {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow, product <= IDXFile.maximumElementCount else {
                throw DataError(path, "dimensions \(shape) claim more than 2^31 elements (corrupt header?)")
            }
            elements = product
        }
        self.elementType = elementType
        self.dimensions = dimensions
        dataByteCount = elements * elementType.byteWidth
    }

    /// Up to `count` bytes (a few header bytes) from `reader`, fewer at the end of the content.
    private static func read(_ count: Int, from reader: ByteReader) throws(DataError) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { buffer.deallocate() }
        let read = try reader.read(into: buffer)
        return Array(buffer[0..<read])
    }
}
