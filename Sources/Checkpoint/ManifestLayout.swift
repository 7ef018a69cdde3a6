import Support

/// The parts of a checkpoint's manifest that `CheckpointStore` itself checks the files against:
/// the step, each tensor's file and SHA-256, and each file's SHA-256. Parsing it rejects a
/// missing or malformed field with a one-line error naming the field.
struct ManifestLayout {
    struct Tensor {
        var file: String
        var sha256: String
    }

    var step: Int
    /// By tensor name.
    var tensors: [String: Tensor]
    /// By file name.
    var fileChecksums: [String: String]

    init(_ manifest: [String: JSONValue], path: String) throws(CheckpointError) {
        guard let step = manifest["step"]?.integer, step >= 0 else {
            throw CheckpointError(path, "field 'step' is not a whole number >= 0")
        }
        guard case .object(let listed)? = manifest["tensors"] else {
            throw CheckpointError(path, "field 'tensors' (every tensor's file and SHA-256) is missing or not an object")
        }
        var tensors: [String: Tensor] = [:]
        for (name, entry) in listed {
            guard let file = entry["file"]?.string, let sha = entry["sha256"]?.string else {
                throw CheckpointError(path, "tensors: \(Untrusted.quote(name)): entry needs file and sha256")
            }
            guard CheckpointStore.tensorFiles.contains(file) else {
                throw CheckpointError(path, "tensors: \(Untrusted.quote(name)): file \(Untrusted.quote(file)) is not \(CheckpointStore.tensorFiles.joined(separator: " or "))")
            }
            tensors[name] = Tensor(file: file, sha256: sha)
        }
        guard case .object(let files)? = manifest["files"] else {
            throw CheckpointError(path, "field 'files' (each tensor file's SHA-256) is missing or not an object")
        }
        var fileChecksums: [String: String] = [:]
        for file in CheckpointStore.tensorFiles {
            guard let sha = files[file]?["sha256"]?.string else {
                throw CheckpointError(path, "files: \(file): entry needs sha256")
            }
            fileChecksums[file] = sha
        }
        (self.step, self.tensors, self.fileChecksums) = (step, tensors, fileChecksums)
    }
}
