import Foundation
import Glibc
import Support
import Synchronization
import Testing

/// A result set by another thread.
private final class ThreadResult: Sendable {
    let value = Mutex<String?>(nil)
}

/// What `read` of the FIFO at `fifo` says, run on another thread and given 10 seconds: nil if it
/// blocked (the blocked reader is then released, so a regression fails instead of hanging).
func outcomeWithoutBlocking(fifo: String, _ read: @escaping @Sendable () throws -> Void) -> String? {
    let result = ThreadResult()
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        let text: String
        do {
            try read()
            text = "read"
        } catch {
            text = "\(error)"
        }
        result.value.withLock { $0 = text }
        done.signal()
    }
    guard done.wait(timeout: .now() + 10) == .success else {
        let writer = open(fifo, O_WRONLY | O_NONBLOCK)
        if writer >= 0 { close(writer) }
        return nil
    }
    return result.value.withLock { $0 }
}

/// A new empty folder under the temporary directory; the caller removes it.
private func makeScratchFolder() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-regular-file-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The one message `body` fails with, or nil when it succeeds.
private func failure(_ body: () throws(FileError) -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return error.description
    }
}

@Suite("reading a file from outside")
struct RegularFileTests {
    @Test("a FIFO is refused at once instead of waiting for a writer")
    func fifo() throws {
        let folder = try makeScratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fifo = folder + "/pipe"
        #expect(mkfifo(fifo, 0o600) == 0)
        let outcome = outcomeWithoutBlocking(fifo: fifo) { _ = try RegularFile.read(fifo, limit: 100) }
        #expect(outcome != nil, "reading a FIFO blocked")
        #expect(outcome == "\(fifo): is a FIFO (named pipe), not a regular file")
    }

    @Test("a folder, a device and a missing file are one-line errors naming the path")
    func notRegular() throws {
        let folder = try makeScratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(folder, limit: 100) } == "\(folder): is a folder, not a regular file")
        #expect(failure { () throws(FileError) in _ = try RegularFile.open("/dev/zero") } == "/dev/zero: is a device, not a regular file")
        let missing = folder + "/none"
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(missing, limit: 100) } == "\(missing): does not exist")
        #expect(try RegularFile.readIfPresent(missing, limit: 100) == nil)
        #expect(try RegularFile.openIfPresent(missing) == nil)
        let below = missing + "/deeper"
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(below, limit: 100) } == "\(below): does not exist")
    }

    @Test("a file larger than the limit is refused from its size, before allocating")
    func overLimit() throws {
        let folder = try makeScratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/huge"
        // A sparse terabyte: allocating it would kill the test process, so only the size check can pass.
        let descriptor = open(path, O_WRONLY | O_CREAT, 0o600)
        #expect(descriptor >= 0)
        #expect(ftruncate(descriptor, 1 << 40) == 0)
        close(descriptor)
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(path, limit: 1 << 20) } == "\(path): is \(1 << 40) bytes, more than the \(1 << 20) allowed")
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(path, limit: 10) { "is \($0) bytes, too large" } } == "\(path): is \(1 << 40) bytes, too large")
        // At the limit exactly the file is read.
        try Data(repeating: 7, count: 10).write(to: URL(fileURLWithPath: path))
        #expect(try RegularFile.read(path, limit: 10) == [UInt8](repeating: 7, count: 10))
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(path, limit: 9) } == "\(path): is 10 bytes, more than the 9 allowed")
    }

    @Test("the bytes read are exactly the file's, across several reads and at the edges")
    func exactBytes() throws {
        let folder = try makeScratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/data"
        // Larger than one 64 KiB read, and not a multiple of it.
        let bytes = (0..<200_003).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try RegularFile.read(path, limit: 1 << 20) == bytes)
        #expect(try RegularFile.read(path, limit: 1 << 20, mayGrow: true) == bytes)
        #expect(try RegularFile.readOpening(path, count: 512) == Array(bytes.prefix(512)))
        let opened = try RegularFile.open(path)
        #expect(opened.size == bytes.count)
        #expect(fcntl(opened.descriptor, F_GETFL) & O_NONBLOCK == 0, "the descriptor is left non-blocking")
        #expect(fcntl(opened.descriptor, F_GETFD) & FD_CLOEXEC != 0, "the descriptor is inherited by child processes")
        close(opened.descriptor)
        try Data().write(to: URL(fileURLWithPath: path))
        #expect(try RegularFile.read(path, limit: 0) == [])
        #expect(try RegularFile.readOpening(path, count: 512) == [])
    }

    @Test("a file longer than its size when opened is refused, or read up to the limit when it may grow")
    func growing() throws {
        // /proc files report size 0 and hold bytes: a file that grew between fstat and read.
        let path = "/proc/self/status"
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(path, limit: 1 << 20) } == "\(path): grew past its 0 bytes while being read")
        let grown = try RegularFile.read(path, limit: 1 << 20, mayGrow: true)
        #expect(String(decoding: grown, as: UTF8.self).hasPrefix("Name:"))
        #expect(failure { () throws(FileError) in _ = try RegularFile.read(path, limit: 10, mayGrow: true) }
            == "\(path): grew to more than the 10 bytes allowed while being read")
    }

    @Test("the kind of a file is named for messages")
    func kinds() {
        #expect(RegularFile.kind(of: S_IFDIR | 0o755) == "a folder")
        #expect(RegularFile.kind(of: S_IFIFO) == "a FIFO (named pipe)")
        #expect(RegularFile.kind(of: S_IFSOCK) == "a socket")
        #expect(RegularFile.kind(of: S_IFCHR) == "a device")
        #expect(RegularFile.kind(of: S_IFBLK) == "a device")
        #expect(RegularFile.kind(of: S_IFREG | 0o644) == "a regular file")
    }

    @Test("the reason for a failure is errno's text, never an NSError dump")
    func reasons() {
        #expect(RegularFile.reason(EACCES) == "permission denied")
        #expect(RegularFile.reason(EIO) == String(cString: strerror(EIO)))
        #expect(RegularFile.unusable(ENOENT) == "does not exist")
        #expect(RegularFile.unusable(ELOOP) == "is a symlink loop")
        #expect(RegularFile.unusable(EACCES) == "cannot be opened: permission denied")
    }
}

@Suite("quoting text from a file")
struct UntrustedTests {
    @Test("control and line-breaking characters are escaped, so a quote stays on one line")
    func escapes() {
        #expect(Untrusted.quote("a\nb\r\tc") == #"'a\nb\r\tc'"#)
        #expect(Untrusted.quote("\u{1}\u{7F}\u{85}\u{2028}\u{2029}\u{202E}") == #"'\u{1}\u{7f}\u{85}\u{2028}\u{2029}\u{202e}'"#)
        // The delimiters are escaped, so a file cannot end the quote early.
        #expect(Untrusted.quote(#"it's \ here"#) == #"'it\'s \\ here'"#)
        #expect(Untrusted.quote("é😀") == "'é😀'")
        #expect(Untrusted.oneLine("field 'a\nb'") == #"field 'a\nb'"#)
    }

    @Test("long text is cut to a short excerpt marked with ...")
    func truncates() {
        let long = String(repeating: "x", count: 1000)
        #expect(Untrusted.quote(long) == "'" + String(repeating: "x", count: Untrusted.excerptLength) + "...'")
        #expect(Untrusted.quote(String(repeating: "x", count: Untrusted.excerptLength)) == "'" + String(repeating: "x", count: Untrusted.excerptLength) + "'")
        #expect(Untrusted.oneLine(long, limit: 5) == "xxxxx...")
        let hostile = Untrusted.quote(String(repeating: "\n", count: 1000))
        #expect(!hostile.contains("\n") && hostile.count < 200)
    }

    @Test("a long list of integers is cut after eight entries")
    func lists() {
        #expect(Untrusted.list([1, 2, 3]) == "[1, 2, 3]")
        #expect(Untrusted.list(Array(1...20)) == "[1, 2, 3, 4, 5, 6, 7, 8, ... (20 entries)]")
    }
}
