internal import CZlib
import Glibc
import Support

/// A file's bytes read front to back, inflated on the fly when the file is gzip-compressed
/// (recognised by its magic bytes `1f 8b`, not by its name), so callers parse one format either way.
///
/// Concatenated gzip members are read as one stream, as `gzip -d` does. Every failure is a
/// `DataError` naming the file.
final class ByteReader {
    let path: String
    private let descriptor: Int32
    /// File bytes read ahead of the caller (plain files) or of the inflater (gzip files).
    private let input: UnsafeMutablePointer<UInt8>
    private let inputCapacity = 1 << 16
    private var inputStart = 0
    private var inputEnd = 0
    private var reachedEndOfFile = false
    private var stream: UnsafeMutablePointer<z_stream>?
    private var memberEnded = false

    /// The size of the file on disk (compressed, for a gzip file).
    let fileSize: Int
    /// Whether the content is inflated from gzip.
    var isCompressed: Bool { stream != nil }

    /// Opens `path` through `RegularFile` (anything but a regular file is refused and the open
    /// does not block, so no path can hang the process) and looks at its first bytes to tell
    /// gzip from plain.
    init(path: String) throws(DataError) {
        self.path = path
        let opened: (descriptor: Int32, size: Int)
        do {
            opened = try RegularFile.open(path)
        } catch let error where error.message == RegularFile.doesNotExist {
            let hint = DataConfig.installHint(for: path).map { " (\($0))" } ?? ""
            throw DataError(path, RegularFile.doesNotExist + hint)
        }
        fileSize = opened.size
        self.descriptor = opened.descriptor
        input = .allocate(capacity: inputCapacity)
        // From here on a throw runs `deinit`, which releases the descriptor, buffer and stream.
        try fillInput(minimum: 2)
        guard inputEnd >= 2, input[0] == 0x1F, input[1] == 0x8B else { return }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 32: the largest window, with zlib detecting the gzip header itself.
        let status = inflateInit2_(stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            throw DataError(path, "cannot start gzip decompression (zlib status \(status))")
        }
        self.stream = stream
    }

    deinit {
        if let stream {
            inflateEnd(stream)
            stream.deallocate()
        }
        close(descriptor)
        input.deallocate()
    }

    /// Fills `buffer` from the (inflated) content and returns how many bytes it wrote: fewer than
    /// `buffer.count` only at the end of the content.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        var written = 0
        while written < buffer.count {
            let count = try (stream == nil)
                ? readPlain(into: base + written, count: buffer.count - written)
                : inflate(into: base + written, count: min(buffer.count - written, Int(UInt32.max)))
            if count == 0 { break }
            written += count
        }
        return written
    }

    private func readPlain(into destination: UnsafeMutableRawPointer, count: Int) throws(DataError) -> Int {
        if inputStart < inputEnd {
            let available = min(count, inputEnd - inputStart)
            destination.copyMemory(from: input + inputStart, byteCount: available)
            inputStart += available
            return available
        }
        if reachedEndOfFile { return 0 }
        let count = try readFile(into: destination, count: count)
        if count == 0 { reachedEndOfFile = true }
        return count
    }

    private func inflate(into destination: UnsafeMutableRawPointer, count: Int) throws(DataError) -> Int {
        guard let stream else { return 0 }
        stream.pointee.next_out = destination.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(count)
        while stream.pointee.avail_out > 0 {
            if memberEnded {
                try fillInput(minimum: 2)
                if inputStart == inputEnd { break }
                guard inputEnd - inputStart >= 2, input[inputStart] == 0x1F, input[inputStart + 1] == 0x8B else {
                    throw DataError(path, "unexpected bytes after the end of the gzip stream")
                }
                inflateReset(stream)
                memberEnded = false
            }
            if inputStart == inputEnd {
                try fillInput(minimum: 1)
                if inputStart == inputEnd {
                    throw DataError(path, "the gzip stream ends early (truncated file)")
                }
            }
            stream.pointee.next_in = input + inputStart
            stream.pointee.avail_in = UInt32(inputEnd - inputStart)
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            inputStart = inputEnd - Int(stream.pointee.avail_in)
            switch status {
            case Z_OK:
                continue
            case Z_BUF_ERROR where inputStart == inputEnd:
                continue
            case Z_STREAM_END:
                memberEnded = true
            case Z_MEM_ERROR:
                throw DataError(path, "out of memory while decompressing")
            default:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                throw DataError(path, "corrupt gzip data (\(detail))")
            }
        }
        return count - Int(stream.pointee.avail_out)
    }

    /// Moves unread input to the front and reads the file until at least `minimum` bytes are
    /// buffered or the file ends.
    private func fillInput(minimum: Int) throws(DataError) {
        if inputStart > 0 {
            let remaining = inputEnd - inputStart
            memmove(input, input + inputStart, remaining)
            inputStart = 0
            inputEnd = remaining
        }
        while inputEnd < minimum && !reachedEndOfFile {
            let count = try readFile(into: input + inputEnd, count: inputCapacity - inputEnd)
            if count == 0 { reachedEndOfFile = true }
            inputEnd += count
        }
    }

    private func readFile(into destination: UnsafeMutableRawPointer, count: Int) throws(DataError) -> Int {
        try RegularFile.readSome(descriptor, into: destination, count: count, path: path)
    }
}
