import Foundation
import Support

/// The pointer files of a run folder, `latest` and `best`: each holds the name of one checkpoint
/// folder and a newline. They are replaced atomically, and read as untrusted input: bounded in
/// size, never blocking, and every problem named exactly.
extension CheckpointStore {
    /// A pointer file holds one folder name; anything larger is damage, not a name.
    package static let maximumPointerBytes = 256

    /// The checkpoint folder (its path) that the pointer file `pointerName` of `runFolder` names,
    /// or nil if there is no such file. A pointer that cannot be read, is not a checkpoint
    /// folder's name, or names a folder that is not there is a one-line error naming the file.
    package static func pointer(named pointerName: String, in runFolder: String) throws(CheckpointError) -> String? {
        let pointerPath = path(runFolder, pointerName)
        let maximum = maximumPointerBytes
        guard let bytes = try RegularFile.readIfPresent(pointerPath, limit: maximum, tooLarge: {
            "is \($0) bytes, too large to be a pointer to a checkpoint folder (at most \(maximum))"
        }) else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CheckpointError(pointerPath, "is not UTF-8 text") }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw CheckpointError(pointerPath, "is empty (it should name a checkpoint folder, e.g. ckpt-000100)") }
        guard !name.contains("/") else {
            throw CheckpointError(pointerPath, "holds a path, \(Untrusted.quote(name)), not the name of a checkpoint folder")
        }
        guard step(ofFolderName: name) != nil else {
            throw CheckpointError(pointerPath, "does not name a checkpoint folder (\(Untrusted.quote(name)) is not ckpt- and digits)")
        }
        let folder = path(runFolder, name)
        var status = stat()
        guard stat(folder, &status) == 0 else { throw CheckpointError(pointerPath, "names \(name), which \(RegularFile.unusable())") }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw CheckpointError(pointerPath, "names \(name), which is not a folder") }
        return folder
    }

    /// Points `pointerName` at `folderName`: written to a `.tmp` file, fsynced, renamed over the
    /// old pointer, and the run folder fsynced, so a crash leaves the old or the new pointer.
    static func writePointer(named pointerName: String, to folderName: String, in runFolder: String) throws(CheckpointError) {
        let pointerPath = path(runFolder, pointerName)
        try CheckpointFiles.writeSynced(Array((folderName + "\n").utf8), to: pointerPath + ".tmp")
        guard rename(pointerPath + ".tmp", pointerPath) == 0 else {
            throw CheckpointError(pointerPath, "cannot be replaced: \(RegularFile.reason())")
        }
        try CheckpointFiles.syncDirectory(runFolder)
    }
}
