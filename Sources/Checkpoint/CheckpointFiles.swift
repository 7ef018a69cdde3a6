import Foundation
import Glibc
import Support

/// The writes a checkpoint needs, with POSIX calls so that every failure is a phrased one-line
/// `CheckpointError` and every write is fsynced. (Reads go through `RegularFile`.)
enum CheckpointFiles {
    /// Replaces `path` with `bytes` and fsyncs the file (the caller syncs the folder).
    static func writeSynced(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError(path, "cannot be created: \(RegularFile.reason())") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + written, bytes.count - written)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let code = errno
                close(descriptor)
                throw CheckpointError(path, "cannot be written: \(RegularFile.reason(code))")
            }
            written += count
        }
        guard fsync(descriptor) == 0 else {
            let code = errno
            close(descriptor)
            throw CheckpointError(path, "cannot be synced to disk: \(RegularFile.reason(code))")
        }
        guard close(descriptor) == 0 else { throw CheckpointError(path, "cannot be closed: \(RegularFile.reason())") }
    }

    /// Fsyncs a folder, so that renames and new files in it survive a crash.
    static func syncDirectory(_ path: String) throws(CheckpointError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw CheckpointError(path, "cannot open the folder to sync it: \(RegularFile.reason())") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw CheckpointError(path, "cannot sync the folder: \(RegularFile.reason())") }
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
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw CheckpointError(path, "cannot create the folder: \(RegularFile.reason())") }
    }
}
