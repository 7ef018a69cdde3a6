import Foundation
import Glibc

/// The file operations a checkpoint needs, with POSIX calls so that every failure is a phrased
/// one-line `CheckpointError`: reads that are bounded before anything is allocated and never
/// block (a FIFO is rejected, not waited on), and writes that are fsynced.
enum CheckpointFiles {
    /// The reason for a failed system call, e.g. "No space left on device".
    static func reason(_ code: Int32 = errno) -> String {
        switch code {
        case ELOOP: "symlink loop"
        case EACCES, EPERM: "permission denied"
        case ENOENT: "does not exist"
        case ENOTDIR: "a component of the path is not a folder"
        default: String(cString: strerror(code))
        }
    }

    /// Why `open` or `stat` failed, phrased to follow the path: "is a symlink loop", "does not exist".
    static func unusable(_ code: Int32 = errno) -> String {
        switch code {
        case ENOENT: "does not exist"
        case ELOOP: "is a symlink loop"
        default: "cannot be opened: \(reason(code))"
        }
    }

    /// What a file that is not a regular file is, for messages: "a folder", "a FIFO" and so on.
    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "a special file"
        }
    }

    /// The bytes of the regular file at `path`, refusing a file of more than `limit` bytes before
    /// allocating. `tooLarge` phrases that refusal given the file's size. Returns nil only when
    /// the file does not exist and `missingIsNil`.
    static func read(
        _ path: String, limit: Int, missingIsNil: Bool = false, tooLarge: (Int) -> String
    ) throws(CheckpointError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT && missingIsNil { return nil }
            throw CheckpointError(path, unusable(code))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw CheckpointError(path, "cannot be examined: \(reason())") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw CheckpointError(path, "is \(kind(status.st_mode)), not a regular file") }
        let size = Int(status.st_size)
        guard size >= 0, size <= limit else { throw CheckpointError(path, tooLarge(size)) }
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let count = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(descriptor, buffer.baseAddress! + filled, size - filled)
            }
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard count >= 0 else { throw CheckpointError(path, "cannot be read: \(reason())") }
            guard count > 0 else { throw CheckpointError(path, "shrank from \(size) to \(filled) bytes while being read") }
            filled += count
        }
        return bytes
    }

    /// Replaces `path` with `bytes` and fsyncs the file (the caller syncs the folder).
    static func writeSynced(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError(path, "cannot be created: \(reason())") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + written, bytes.count - written)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let code = errno
                close(descriptor)
                throw CheckpointError(path, "cannot be written: \(reason(code))")
            }
            written += count
        }
        guard fsync(descriptor) == 0 else {
            let code = errno
            close(descriptor)
            throw CheckpointError(path, "cannot be synced to disk: \(reason(code))")
        }
        guard close(descriptor) == 0 else { throw CheckpointError(path, "cannot be closed: \(reason())") }
    }

    /// Fsyncs a folder, so that renames and new files in it survive a crash.
    static func syncDirectory(_ path: String) throws(CheckpointError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw CheckpointError(path, "cannot open the folder to sync it: \(reason())") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw CheckpointError(path, "cannot sync the folder: \(reason())") }
    }

    /// Creates `path` and any missing parents.
    static func createFolder(_ path: String) throws(CheckpointError) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw CheckpointError(path, "exists and is not a folder") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try createFolder(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw CheckpointError(path, "cannot create the folder: \(reason())") }
    }
}
