import Datasets
import Foundation
import Testing

@Suite("IDX files")
struct IDXFileTests {
    @Test("uint8 images round trip through plain and gzip files")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        let pixels = noiseBytes(5 * 3 * 4)
        let file = IDXFile(elementType: .uint8, dimensions: [5, 3, 4], bytes: pixels)
        let encoded = file.encoded()
        #expect(encoded == idxHeader(type: 0x08, dimensions: [5, 3, 4]) + pixels)

        let plain = try directory.write("images-idx3-ubyte", encoded)
        // The gzip file deliberately has no .gz suffix: compression is detected by the magic bytes.
        let (compressed, gzipBytes) = try directory.writeGzip("images-compressed", encoded)
        #expect(gzipBytes.prefix(2) == [0x1F, 0x8B])
        for path in [plain, compressed] {
            let read = try IDXFile.read(path: path)
            #expect(read.elementType == .uint8)
            #expect(read.dimensions == [5, 3, 4])
            #expect(read.count == 60)
            #expect(read.bytes == pixels)
            #expect(read.floats() == pixels.map { Float($0) })
        }
    }

    @Test("one- and four-dimensional files")
    func dimensionCounts() throws {
        let directory = try TemporaryDirectory()
        let labels: [UInt8] = [3, 1, 4, 1, 5]
        let vector = try directory.write("labels", idxHeader(type: 0x08, dimensions: [5]) + labels)
        #expect(try IDXFile.read(path: vector).dimensions == [5])
        let block = try directory.write("block", idxHeader(type: 0x08, dimensions: [2, 1, 3, 2]) + noiseBytes(12))
        #expect(try IDXFile.read(path: block).dimensions == [2, 1, 3, 2])
    }

    @Test("signed and floating-point types are read big-endian and converted to Float")
    func otherElementTypes() throws {
        let directory = try TemporaryDirectory()
        func bigEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
            values.flatMap { value in withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        }
        let cases: [(IDXElementType, [UInt8], [Float])] = [
            (.int8, [0x00, 0x7F, 0x80, 0xFF], [0, 127, -128, -1]),
            (.int16, bigEndian([Int16(0), 300, -300, Int16.min]), [0, 300, -300, -32768]),
            (.int32, bigEndian([Int32(0), 70000, -70000, -1]), [0, 70000, -70000, -1]),
            (.float32, bigEndian([Float(1.5), -2.25, 0, 1e-3].map(\.bitPattern)), [1.5, -2.25, 0, 1e-3]),
            // 0.1 as Float64 converts to the nearest Float, Float(0.1).
            (.float64, bigEndian([Double(0.1), -4, 1e10, 0.5].map(\.bitPattern)), [0.1, -4, 1e10, 0.5]),
        ]
        for (type, data, expected) in cases {
            let path = try directory.write("typed-\(type)", idxHeader(type: type.rawValue, dimensions: [2, 2]) + data)
            let file = try IDXFile.read(path: path)
            #expect(file.elementType == type)
            #expect(file.dimensions == [2, 2])
            #expect(file.bytes == data)
            #expect(file.floats() == expected, "\(type)")
        }
    }

    @Test("concatenated gzip members read as one stream, as gzip -d does")
    func concatenatedMembers() throws {
        let directory = try TemporaryDirectory()
        let encoded = idxHeader(type: 0x08, dimensions: [4, 50]) + noiseBytes(200)
        let first = try directory.writeGzip("first", Array(encoded[0..<77])).compressed
        let second = try directory.writeGzip("second", Array(encoded[77...])).compressed
        let joined = try directory.write("joined", first + second)
        #expect(try IDXFile.read(path: joined).bytes == Array(encoded[12...]))
    }

    @Test("missing, unreadable and empty files")
    func unusableFiles() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.path + "/nothing-here"
        #expect(dataError { _ = try IDXFile.read(path: missing) } == "\(missing): does not exist")
        let packaged = DataConfig.fashionMNISTDirectory + "/no-such-file-idx1-ubyte.gz"
        #expect(dataError { _ = try IDXFile.read(path: packaged) }
            == "\(packaged): does not exist (install the Debian package dataset-fashion-mnist)")
        // A directory is refused before it is opened.
        #expect(dataError { _ = try IDXFile.read(path: directory.path) }
            == "\(directory.path): is a folder, not a regular file")
        let empty = try directory.write("empty", [])
        #expect(dataError { _ = try IDXFile.read(path: empty) } == "\(empty): the file is empty")
    }

    @Test("header defects")
    func headerDefects() throws {
        let directory = try TemporaryDirectory()
        func message(_ name: String, _ bytes: [UInt8]) throws -> String? {
            let path = try directory.write(name, bytes)
            return dataError { _ = try IDXFile.read(path: path) }.map { String($0.dropFirst(path.count + 2)) }
        }
        #expect(try message("zip", Array("PK\u{3}\u{4}rest".utf8)) == "not an IDX file (starts with 50 4b, expected 00 00)")
        #expect(try message("short", [0, 0, 8]) == "the file ends inside the IDX header (3 of 4 bytes)")
        #expect(try message("type", idxHeader(type: 0x07, dimensions: [1]) + [0])
            == "unsupported IDX element type 0x07 (supported: uint8 (0x08), int8 (0x09), int16 (0x0b), int32 (0x0c), float32 (0x0d), float64 (0x0e))")
        #expect(try message("rank0", [0, 0, 8, 0]) == "IDX dimension count 0 is not in 1...4")
        #expect(try message("rank5", idxHeader(type: 0x08, dimensions: [1, 1, 1, 1, 1]) + [7])
            == "IDX dimension count 5 is not in 1...4")
        #expect(try message("cut-dimensions", Array(idxHeader(type: 0x08, dimensions: [3, 2, 2]).prefix(10)))
            == "the file ends inside the IDX header (10 of 16 bytes)")
        #expect(try message("zero", idxHeader(type: 0x08, dimensions: [3, 0, 2])) == "dimension 1 of 3 x 0 x 2 is zero")
        // 65536 x 65536 = 2^32 elements: a corrupt header, rejected before any data is read.
        #expect(try message("huge", idxHeader(type: 0x08, dimensions: [65536, 65536]))
            == "dimensions 65536 x 65536 claim more than 2^31 elements (corrupt header?)")
    }

    @Test("data shorter or longer than the dimensions say")
    func dataLength() throws {
        let directory = try TemporaryDirectory()
        let header = idxHeader(type: 0x08, dimensions: [60000, 28, 28])
        let short = try directory.write("short", header + noiseBytes(1000))
        #expect(dataError { _ = try IDXFile.read(path: short) }
            == "\(short): expected 47040000 bytes of data, found 1000 (dimensions 60000 x 28 x 28, uint8)")
        let shortGzip = try directory.writeGzip("short-gzip", header + noiseBytes(1000)).path
        #expect(dataError { _ = try IDXFile.read(path: shortGzip) }
            == "\(shortGzip): expected 47040000 bytes of data, found 1000 (dimensions 60000 x 28 x 28, uint8)")
        let floats = try directory.write("floats", idxHeader(type: 0x0D, dimensions: [3]) + noiseBytes(10))
        #expect(dataError { _ = try IDXFile.read(path: floats) }
            == "\(floats): expected 12 bytes of data, found 10 (dimensions 3, float32)")
        let long = try directory.write("long", idxHeader(type: 0x08, dimensions: [2, 3, 4]) + noiseBytes(27))
        #expect(dataError { _ = try IDXFile.read(path: long) }
            == "\(long): 3 trailing bytes after the 24 bytes of data (dimensions 2 x 3 x 4, uint8)")
        let longGzip = try directory.writeGzip("long-gzip", idxHeader(type: 0x08, dimensions: [24]) + noiseBytes(25)).path
        #expect(dataError { _ = try IDXFile.read(path: longGzip) }
            == "\(longGzip): more bytes after the 24 bytes of data (dimensions 24, uint8); decompression stopped there")
    }

    @Test("truncated and corrupt gzip streams")
    func gzipDefects() throws {
        let directory = try TemporaryDirectory()
        // 200 KB of poorly compressible data: the deflate stream spans many 64 KB input reads.
        let encoded = idxHeader(type: 0x08, dimensions: [250, 800]) + noiseBytes(200_000)
        let compressed = try directory.writeGzip("whole", encoded).compressed
        #expect(compressed.count > 150_000)
        #expect(try IDXFile.read(path: directory.path + "/whole").bytes == Array(encoded[12...]))

        func message(_ name: String, _ bytes: [UInt8]) throws -> String? {
            let path = try directory.write(name, bytes)
            return dataError { _ = try IDXFile.read(path: path) }.map { String($0.dropFirst(path.count + 2)) }
        }
        let truncated = "the gzip stream ends early (truncated file)"
        #expect(try message("half", Array(compressed.prefix(compressed.count / 2))) == truncated)
        #expect(try message("header-only", Array(compressed.prefix(5))) == truncated)
        // Only the 8-byte trailer (CRC-32 and length) missing: all data is there, still truncated.
        #expect(try message("no-trailer", Array(compressed.dropLast(8))) == truncated)

        var badChecksum = compressed
        badChecksum[badChecksum.count - 8] ^= 0xFF
        #expect(try message("crc", badChecksum) == "corrupt gzip data (incorrect data check)")
        var badMethod = compressed
        badMethod[2] = 7
        #expect(try message("method", badMethod) == "corrupt gzip data (unknown compression method)")
        #expect(try message("trailing-garbage", compressed + [0, 0, 0])
            == "unexpected bytes after the end of the gzip stream")
    }
}
