import Foundation

/// What one checkpoint holds: the manifest and the two tensor files.
public struct CheckpointContents: Sendable {
    /// `manifest.json` as a JSON object (the trainer defines its fields; `format` and `tensors`
    /// are added when writing).
    public var manifest: [String: JSONValue]
    /// `model.safetensors`: the parameters.
    public var model: [StoredTensor]
    /// `optim.safetensors`: the optimizer state.
    public var optimizer: [StoredTensor]

    public init(manifest: [String: JSONValue], model: [StoredTensor], optimizer: [StoredTensor]) {
        self.manifest = manifest
        self.model = model
        self.optimizer = optimizer
    }
}

/// Checkpoints on disk: `RUN/ckpt-NNNNNN/{manifest.json, model.safetensors, optim.safetensors}` and
/// `RUN/latest` naming the newest complete one.
///
/// Writing never exposes a partial checkpoint. Files go to `ckpt-NNNNNN.tmp/` and are fsynced, and
/// the folder is fsynced and renamed. `latest` is then replaced atomically (written to
/// `latest.tmp`, fsynced, renamed) and the run folder fsynced. A crash at any point leaves the
/// previous checkpoint and `latest` intact; stale `.tmp` folders are removed by the next save.
public enum CheckpointStore {
    public static let format = "spectrain-checkpoint/1"

    /// The folder name of the checkpoint after `step` steps.
    public static func folderName(step: Int) -> String {
        "ckpt-" + String(step).leftPadded(to: 6)
    }

    /// Writes a checkpoint into `runFolder` and keeps only the newest `keep`. Returns its folder.
    @discardableResult
    public static func write(
        _ contents: CheckpointContents, step: Int, runFolder: String, keep: Int, pauseBeforeCommit: Double = 0
    ) throws(CheckpointError) -> String {
        let manager = FileManager.default
        let name = folderName(step: step)
        let final = (runFolder as NSString).appendingPathComponent(name)
        let temporary = final + ".tmp"
        removeStaleTemporaries(in: runFolder)
        try? manager.removeItem(atPath: temporary)
        do {
            try manager.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(temporary, "cannot create the folder (\(error.localizedDescription))")
        }
        let metadata = ["format": format]
        let modelBytes = SafeTensors.encode(contents.model, metadata: metadata)
        let optimizerBytes = SafeTensors.encode(contents.optimizer, metadata: metadata)
        var manifest = contents.manifest
        var checksums: [String: JSONValue] = [:]
        for tensor in contents.model { checksums[tensor.name] = .object(["file": .string("model.safetensors"), "sha256": .string(tensor.sha256)]) }
        for tensor in contents.optimizer { checksums[tensor.name] = .object(["file": .string("optim.safetensors"), "sha256": .string(tensor.sha256)]) }
        manifest["format"] = .string(format)
        manifest["tensors"] = .object(checksums)
        let manifestBytes = JSONValue.object(manifest).encoded()
        try writeSynced(Data(modelBytes), to: (temporary as NSString).appendingPathComponent("model.safetensors"))
        try writeSynced(Data(optimizerBytes), to: (temporary as NSString).appendingPathComponent("optim.safetensors"))
        try writeSynced(manifestBytes, to: (temporary as NSString).appendingPathComponent("manifest.json"))
        try syncDirectory(temporary)
        if pauseBeforeCommit > 0 { usleep(UInt32(min(pauseBeforeCommit, 600) * 1_000_000)) }
        if manager.fileExists(atPath: final) { try? manager.removeItem(atPath: final) }
        guard rename(temporary, final) == 0 else {
            throw CheckpointError(final, "cannot rename \(temporary) into place (errno \(errno))")
        }
        try syncDirectory(runFolder)
        let latest = (runFolder as NSString).appendingPathComponent("latest")
        try writeSynced(Data((name + "\n").utf8), to: latest + ".tmp")
        guard rename(latest + ".tmp", latest) == 0 else {
            throw CheckpointError(latest, "cannot update (errno \(errno))")
        }
        try syncDirectory(runFolder)
        prune(runFolder: runFolder, keep: keep)
        return final
    }

    /// The checkpoint a `--resume` path means: a checkpoint folder itself, or a run folder's `latest`.
    public static func resolve(_ path: String) throws(CheckpointError) -> String {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError(path, "no such run or checkpoint folder")
        }
        if manager.fileExists(atPath: (path as NSString).appendingPathComponent("manifest.json")) { return path }
        let latest = (path as NSString).appendingPathComponent("latest")
        guard let text = try? String(contentsOfFile: latest, encoding: .utf8) else {
            throw CheckpointError(path, "holds no checkpoint (no manifest.json and no 'latest')")
        }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard name.hasPrefix("ckpt-"), !name.contains("/") else { throw CheckpointError(latest, "does not name a checkpoint ('\(name)')") }
        let folder = (path as NSString).appendingPathComponent(name)
        guard manager.fileExists(atPath: (folder as NSString).appendingPathComponent("manifest.json")) else {
            throw CheckpointError(latest, "names \(name), which has no manifest.json")
        }
        return folder
    }

    /// Reads and validates a checkpoint folder: the manifest, both files, and every tensor's SHA-256.
    public static func read(_ folder: String) throws(CheckpointError) -> CheckpointContents {
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        guard let manifestData = FileManager.default.contents(atPath: manifestPath) else {
            throw CheckpointError(manifestPath, "missing or unreadable")
        }
        guard let parsed = try? JSONValue(parsing: manifestData), case .object(let manifest) = parsed else {
            throw CheckpointError(manifestPath, "not a JSON object")
        }
        guard manifest["format"]?.string == format else {
            throw CheckpointError(manifestPath, "not a spectrain checkpoint (format '\(manifest["format"]?.string ?? "missing")', expected '\(format)')")
        }
        guard case .object(let listed)? = manifest["tensors"] else {
            throw CheckpointError(manifestPath, "has no tensor checksums")
        }
        var checksums: [String: [String: String]] = [:]
        for (name, entry) in listed {
            guard let file = entry["file"]?.string, let sha = entry["sha256"]?.string else {
                throw CheckpointError(manifestPath, "tensor '\(name)': entry needs file and sha256")
            }
            checksums[name] = ["file": file, "sha256": sha]
        }
        var files: [String: [StoredTensor]] = [:]
        for file in ["model.safetensors", "optim.safetensors"] {
            let path = (folder as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError(path, "missing or unreadable") }
            let decoded = try SafeTensors.decode([UInt8](data), path: path)
            guard decoded.metadata["format"] == format else {
                throw CheckpointError(path, "not a spectrain checkpoint file (metadata format '\(decoded.metadata["format"] ?? "missing")')")
            }
            for (name, tensor) in decoded.tensors {
                guard let expected = checksums[name], expected["file"] == file else {
                    throw CheckpointError(path, "tensor '\(name)' is not listed in manifest.json")
                }
                guard tensor.sha256 == expected["sha256"] else {
                    throw CheckpointError(path, "tensor '\(name)': SHA-256 mismatch (the file is corrupt)")
                }
            }
            for (name, entry) in checksums where entry["file"] == file && decoded.tensors[name] == nil {
                throw CheckpointError(path, "tensor '\(name)' listed in manifest.json is missing")
            }
            files[file] = decoded.tensors.values.sorted { $0.name < $1.name }
        }
        return CheckpointContents(manifest: manifest, model: files["model.safetensors"]!, optimizer: files["optim.safetensors"]!)
    }

    /// Checkpoint folders in a run folder, oldest first.
    public static func checkpoints(in runFolder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runFolder)) ?? []
        return names.filter { $0.hasPrefix("ckpt-") && !$0.hasSuffix(".tmp") }.sorted()
    }

    private static func prune(runFolder: String, keep: Int) {
        let all = checkpoints(in: runFolder)
        for name in all.dropLast(max(keep, 1)) {
            try? FileManager.default.removeItem(atPath: (runFolder as NSString).appendingPathComponent(name))
        }
    }

    private static func removeStaleTemporaries(in runFolder: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runFolder)) ?? []
        for name in names where name.hasPrefix("ckpt-") && name.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(atPath: (runFolder as NSString).appendingPathComponent(name))
        }
    }

    private static func writeSynced(_ data: Data, to path: String) throws(CheckpointError) {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CheckpointError(path, "cannot create the file")
        }
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            throw CheckpointError(path, "cannot write (\(error.localizedDescription))")
        }
    }

    private static func syncDirectory(_ path: String) throws(CheckpointError) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw CheckpointError(path, "cannot open the folder to sync it (errno \(errno))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw CheckpointError(path, "cannot sync the folder (errno \(errno))") }
    }
}
