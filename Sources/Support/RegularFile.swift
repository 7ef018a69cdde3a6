import Glibc

/// Opening and reading a file that came from outside (a configuration, data set, checkpoint,
/// metrics log), so that every reader follows one rule: only a regular file is read, the open
/// never blocks (a FIFO or device is refused, not waited on), a size limit is checked before
/// anything is allocated, and every problem is one line naming the path (a `FileError`).
package enum RegularFile {
    /// The problem of a path where nothing is, as `FileError.message`.
    package static let doesNotExist = "does not exist"

    /// The reason for a failed system call, e.g. "permission denied", "No space left on device".
    package static func reason(_ code: Int32 = errno) -> String {
        switch code {
        case ELOOP: "symlink loop"
        case EACCES, EPERM: "permission denied"
        case ENOENT: "does not exist"
        case ENOTDIR: "a component of the path is not a folder"
        default: String(cString: strerror(code))
        }
    }

    /// Why `open` or `stat` failed, phrased to follow the path: "does not exist", "is a symlink loop".
    package static func unusable(_ code: Int32 = errno) -> String {
        switch code {
        case ENOENT: doesNotExist
        case ELOOP: "is a symlink loop"
        default: "cannot be opened: \(reason(code))"
        }
    }

    /// What a file of mode `mode` is, for messages: "a regular file", "a folder", "a FIFO (named pipe)".
    package static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFLNK: "a symbolic link"
        default: "a special file"
        }
    }

    /// Opens the regular file at `path` for reading and returns its descriptor (the caller closes
    /// it) and its size. Anything else is refused without blocking.
    package static func open(_ path: String) throws(FileError) -> (descriptor: Int32, size: Int) {
        guard let opened = try openIfPresent(path) else { throw FileError(path, doesNotExist) }
        return opened
    }

    /// As `open`, but nil when nothing is at `path`.
    package static func openIfPresent(_ path: String) throws(FileError) -> (descriptor: Int32, size: Int)? {
        // Non-blocking: opening a FIFO for reading would otherwise wait for a writer.
        let descriptor = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw FileError(path, unusable(code))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw FileError(path, "cannot be examined: \(reason(code))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw FileError(path, "is \(kind(of: status.st_mode)), not a regular file")
        }
        // A regular file never blocks; clearing the flag keeps reads plain for streaming callers.
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
        return (descriptor, Int(status.st_size))
    }

    /// The bytes of the regular file at `path`, refusing a file of more than `limit` bytes before
    /// allocating. `tooLarge` phrases that refusal given the file's size (default: the size and
    /// the limit). A file that changes size while read is an error unless `mayGrow`, when it is
    /// read to its end as long as it stays within `limit` (a log still being written).
    package static func read(
        _ path: String, limit: Int, mayGrow: Bool = false, tooLarge: ((Int) -> String)? = nil
    ) throws(FileError) -> [UInt8] {
        guard let bytes = try readIfPresent(path, limit: limit, mayGrow: mayGrow, tooLarge: tooLarge) else {
            throw FileError(path, doesNotExist)
        }
        return bytes
    }

    /// As `read`, but nil when nothing is at `path`.
    package static func readIfPresent(
        _ path: String, limit: Int, mayGrow: Bool = false, tooLarge: ((Int) -> String)? = nil
    ) throws(FileError) -> [UInt8]? {
        guard let opened = try openIfPresent(path) else { return nil }
        let (descriptor, size) = opened
        defer { close(descriptor) }
        guard size >= 0, size <= limit else {
            throw FileError(path, tooLarge?(size) ?? "is \(size) bytes, more than the \(limit) allowed")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let filled = try fill(&bytes, from: descriptor, path: path)
        guard filled == size || mayGrow else {
            throw FileError(path, "shrank from \(size) to \(filled) bytes while being read")
        }
        bytes.removeSubrange(filled...)
        // Past the size it had when opened: the file grew (or the size was wrong).
        var chunk = [UInt8](repeating: 0, count: mayGrow ? 1 << 16 : 1)
        while true {
            let count = try fill(&chunk, from: descriptor, path: path)
            if count == 0 { return bytes }
            guard mayGrow else { throw FileError(path, "grew past its \(size) bytes while being read") }
            guard bytes.count <= limit - count else {
                throw FileError(path, "grew to more than the \(limit) bytes allowed while being read")
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Up to the first `count` bytes of the regular file at `path` (fewer if it is shorter).
    package static func readOpening(_ path: String, count: Int) throws(FileError) -> [UInt8] {
        let (descriptor, _) = try open(path)
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: max(count, 0))
        let filled = try fill(&bytes, from: descriptor, path: path)
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// Reads from `descriptor` until `buffer` is full or the file ends; returns the bytes read.
    package static func fill(_ buffer: UnsafeMutableRawBufferPointer, from descriptor: Int32, path: String) throws(FileError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var filled = 0
        while filled < buffer.count {
            let count = try readSome(descriptor, into: base + filled, count: buffer.count - filled, path: path)
            if count == 0 { break }
            filled += count
        }
        return filled
    }

    /// `fill` into the whole of `bytes`.
    private static func fill(_ bytes: inout [UInt8], from descriptor: Int32, path: String) throws(FileError) -> Int {
        // `withUnsafeMutableBytes` rethrows untyped errors: carry the typed one out in a `Result`.
        try bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(FileError) in try fill(buffer, from: descriptor, path: path) }
        }.get()
    }

    /// One `read(2)` of up to `count` bytes, retried when interrupted; 0 at the end of the file.
    package static func readSome(_ descriptor: Int32, into destination: UnsafeMutableRawPointer, count: Int, path: String) throws(FileError) -> Int {
        while true {
            let result = Glibc.read(descriptor, destination, count)
            if result >= 0 { return result }
            let code = errno
            if code != EINTR && code != EAGAIN { throw FileError(path, "cannot be read: \(reason(code))") }
        }
    }
}
