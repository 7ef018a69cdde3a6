import Foundation
import Support

/// What one checkpoint holds: the manifest and the two tensor files.
package struct CheckpointContents: Sendable {
    /// `manifest.json` as a JSON object (the trainer defines its fields; `format`, `step`,
    /// `tensors` and `files` are added when writing).
    package var manifest: [String: JSONValue]
    /// `model.safetensors`: the parameters.
    package var model: [StoredTensor]
    /// `optim.safetensors`: the optimizer state.
    package var optimizer: [StoredTensor]

    package init(manifest: [String: JSONValue], model: [StoredTensor], optimizer: [StoredTensor]) {
        self.manifest = manifest
        self.model = model
        self.optimizer = optimizer
    }
}

/// Checkpoints on disk: `RUN/ckpt-NNNNNN/{manifest.json, manifest.sha256, model.safetensors,
/// optim.safetensors}`, `RUN/latest` naming the checkpoint to continue from and `RUN/best` the
/// one the trainer marked best.
///
/// Writing never exposes a partial checkpoint. Files go to `ckpt-NNNNNN.tmp/` and are fsynced, and
/// the folder is fsynced and renamed. The pointers are then replaced atomically (written to
/// `latest.tmp`, fsynced, renamed) and the run folder fsynced. A crash at any point leaves the
/// previous checkpoint and pointers intact; stale `.tmp` folders are removed by the next save.
///
/// Reading trusts nothing: `manifest.sha256` (in `sha256sum` format) covers the manifest, the
/// manifest holds the SHA-256 of both tensor files and of every tensor, and the step is in the
/// manifest and in both files' metadata. Every problem is one line naming the file.
package enum CheckpointStore {
    package static let format = "spectrain-checkpoint/2"
    /// The tensor files of a checkpoint, in the order they are read.
    static let tensorFiles = ["model.safetensors", "optim.safetensors"]
    /// The largest `manifest.json` read; spectrain's are a few kilobytes.
    static let maximumManifestBytes = 64 << 20

    /// The folder name of the checkpoint after `step` steps.
    package static func folderName(step: Int) -> String {
        "ckpt-" + String(step).leftPadded(to: 6)
    }

    /// The step of a checkpoint folder's name: "ckpt-" and decimal digits (any width), or nil
    /// for any other name.
    package static func step(ofFolderName name: String) -> Int? {
        guard name.hasPrefix("ckpt-") else { return nil }
        let digits = name.utf8.dropFirst(5)
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }

    static func path(_ folder: String, _ name: String) -> String {
        (folder as NSString).appendingPathComponent(name)
    }

    /// Writes a checkpoint into `runFolder` and returns its folder.
    ///
    /// - `advanceLatest`: whether `latest` then names it (false keeps `latest` on the previous
    ///   checkpoint, e.g. when this one's model may have diverged).
    /// - `markBest`: whether `best` then names it.
    /// - `keep`: rotation keeps the newest `keep` checkpoints and those `latest` and `best` name.
    /// - `pauseBeforeCommit`: seconds to wait before the rename, for crash tests.
    @discardableResult
    package static func write(
        _ contents: CheckpointContents, step: Int, runFolder: String, keep: Int,
        advanceLatest: Bool = true, markBest: Bool = false, pauseBeforeCommit: Double = 0
    ) throws(CheckpointError) -> String {
        guard step >= 0, step <= 1 << 53 else { throw CheckpointError(runFolder, "cannot save step \(step): not in 0...2^53") }
        var manifest = contents.manifest
        if let stated = manifest["step"] {
            guard stated.integer == step else {
                throw CheckpointError(runFolder, "cannot save step \(step): the manifest's step field says otherwise")
            }
        }
        manifest["step"] = .number(Double(step))
        let name = folderName(step: step)
        let final = path(runFolder, name)
        let temporary = final + ".tmp"
        try CheckpointFiles.createFolder(runFolder)
        removeStaleTemporaries(in: runFolder)
        try? FileManager.default.removeItem(atPath: temporary)
        guard mkdir(temporary, 0o755) == 0 else {
            throw CheckpointError(temporary, "cannot create the folder: \(RegularFile.reason())")
        }
        let metadata = ["format": format, "step": String(step)]
        let fileBytes = [
            SafeTensors.encode(contents.model, metadata: metadata),
            SafeTensors.encode(contents.optimizer, metadata: metadata),
        ]
        var checksums: [String: JSONValue] = [:]
        for (file, tensors) in zip(tensorFiles, [contents.model, contents.optimizer]) {
            for tensor in tensors {
                guard checksums[tensor.name] == nil else {
                    throw CheckpointError(temporary, "tensor \(Untrusted.quote(tensor.name)) appears twice")
                }
                checksums[tensor.name] = .object(["file": .string(file), "sha256": .string(tensor.sha256)])
            }
        }
        manifest["format"] = .string(format)
        manifest["tensors"] = .object(checksums)
        manifest["files"] = .object(Dictionary(uniqueKeysWithValues: zip(tensorFiles, fileBytes).map { file, bytes in
            (file, JSONValue.object(["sha256": .string(SHA256.hex(bytes))]))
        }))
        let manifestBytes = [UInt8](JSONValue.object(manifest).encoded())
        for (file, bytes) in zip(tensorFiles, fileBytes) {
            try CheckpointFiles.writeSynced(bytes, to: path(temporary, file))
        }
        try CheckpointFiles.writeSynced(manifestBytes, to: path(temporary, "manifest.json"))
        try CheckpointFiles.writeSynced(Array(ManifestChecksum.line(for: manifestBytes).utf8), to: path(temporary, ManifestChecksum.fileName))
        try CheckpointFiles.syncDirectory(temporary)
        if pauseBeforeCommit > 0 { usleep(UInt32(min(pauseBeforeCommit, 600) * 1_000_000)) }
        if FileManager.default.fileExists(atPath: final) { try? FileManager.default.removeItem(atPath: final) }
        guard rename(temporary, final) == 0 else {
            throw CheckpointError(final, "cannot rename \(temporary) into place: \(RegularFile.reason())")
        }
        try CheckpointFiles.syncDirectory(runFolder)
        if advanceLatest { try writePointer(named: "latest", to: name, in: runFolder) }
        if markBest { try writePointer(named: "best", to: name, in: runFolder) }
        prune(runFolder: runFolder, keep: keep)
        return final
    }

    /// The checkpoint a `--resume` path means: a checkpoint folder itself, or a run folder's `latest`.
    package static func resolve(_ path: String) throws(CheckpointError) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            throw CheckpointError(path, code == ENOENT ? "no such run or checkpoint folder" : RegularFile.unusable(code))
        }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw CheckpointError(path, "is not a folder (expected a run or checkpoint folder)") }
        var manifestStatus = stat()
        if lstat(Self.path(path, "manifest.json"), &manifestStatus) == 0 { return path }
        guard let folder = try pointer(named: "latest", in: path) else {
            throw CheckpointError(path, "holds no checkpoint (no manifest.json and no 'latest')")
        }
        guard lstat(Self.path(folder, "manifest.json"), &manifestStatus) == 0 else {
            throw CheckpointError(Self.path(path, "latest"), "names \((folder as NSString).lastPathComponent), which has no manifest.json")
        }
        return folder
    }

    /// Reads and validates a checkpoint folder: the manifest against `manifest.sha256`, both
    /// files against the manifest's SHA-256 values, every tensor's SHA-256, and the step.
    package static func read(_ folder: String) throws(CheckpointError) -> CheckpointContents {
        let manifestPath = path(folder, "manifest.json")
        let maximum = maximumManifestBytes
        let manifestBytes = try RegularFile.read(manifestPath, limit: maximum, tooLarge: {
            "is \($0) bytes, more than a manifest's \(maximum)"
        })
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(manifestBytes)
        } catch {
            throw CheckpointError(manifestPath, "is not valid JSON (\(error))")
        }
        guard case .object(let manifest) = parsed else { throw CheckpointError(manifestPath, "is not a JSON object") }
        guard manifest["format"]?.string == format else {
            let found = manifest["format"]?.string
            if found == "spectrain-checkpoint/1" {
                throw CheckpointError(manifestPath, "written by an older spectrain (format 'spectrain-checkpoint/1', without checksums of the manifest and files); this version reads '\(format)'")
            }
            throw CheckpointError(manifestPath, "not a spectrain checkpoint (format \(found.map(Untrusted.quote) ?? "missing"), expected '\(format)')")
        }
        try ManifestChecksum.verify(manifestBytes, folder: folder)
        let layout = try ManifestLayout(manifest, path: manifestPath)
        var files: [[StoredTensor]] = []
        for file in tensorFiles {
            files.append(try readTensorFile(path(folder, file), file: file, layout: layout))
        }
        return CheckpointContents(manifest: manifest, model: files[0], optimizer: files[1])
    }

    /// The largest tensor file read: the machine's memory (a larger one cannot be loaded).
    private static var maximumTensorFileBytes: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }

    private static func readTensorFile(_ filePath: String, file: String, layout: ManifestLayout) throws(CheckpointError) -> [StoredTensor] {
        let maximum = maximumTensorFileBytes
        let bytes = try RegularFile.read(filePath, limit: maximum, tooLarge: {
            "is \($0) bytes, more than this machine's memory (\(maximum) bytes)"
        })
        let decoded = try SafeTensors.decode(bytes, path: filePath)
        guard decoded.metadata["format"] == format else {
            throw CheckpointError(filePath, "not a spectrain checkpoint file (metadata format \(decoded.metadata["format"].map(Untrusted.quote) ?? "missing"))")
        }
        guard let stepText = decoded.metadata["step"] else { throw CheckpointError(filePath, "has no step in its metadata") }
        guard stepText == String(layout.step) else {
            throw CheckpointError(filePath, "metadata step \(Untrusted.quote(stepText)) differs from manifest.json's step \(layout.step)")
        }
        for (name, tensor) in decoded.tensors {
            guard let expected = layout.tensors[name], expected.file == file else {
                throw CheckpointError(filePath, "tensor \(Untrusted.quote(name)) is not listed in manifest.json")
            }
            guard tensor.sha256 == expected.sha256 else {
                throw CheckpointError(filePath, "tensor \(Untrusted.quote(name)): SHA-256 mismatch (the file is corrupt)")
            }
        }
        for (name, entry) in layout.tensors.sorted(by: { $0.key < $1.key }) where entry.file == file && decoded.tensors[name] == nil {
            throw CheckpointError(filePath, "tensor \(Untrusted.quote(name)) listed in manifest.json is missing")
        }
        guard SHA256.hex(bytes) == layout.fileChecksums[file] else {
            throw CheckpointError(filePath, "SHA-256 of the file does not match manifest.json (its header was changed)")
        }
        return decoded.tensors.values.sorted { $0.name < $1.name }
    }

    /// Checkpoint folders in a run folder (named "ckpt-" and digits), oldest first by step.
    package static func checkpoints(in runFolder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runFolder)) ?? []
        return names.compactMap { name in step(ofFolderName: name).map { (step: $0, name: name) } }
            .sorted { ($0.step, $0.name) < ($1.step, $1.name) }
            .map(\.name)
    }

    /// The newest checkpoint folder of `runFolder` that reads and validates completely and that
    /// `accept` accepts, with one line for each newer folder passed over saying why; nil if none.
    /// For resuming when `latest` is missing or damaged.
    package static func newestComplete(
        in runFolder: String, accept: (CheckpointContents) -> Bool = { _ in true }
    ) -> (folder: String, skipped: [String])? {
        var skipped: [String] = []
        for name in checkpoints(in: runFolder).reversed() {
            let folder = path(runFolder, name)
            do {
                if accept(try read(folder)) { return (folder, skipped) }
                skipped.append("\(folder): complete, but not accepted")
            } catch {
                skipped.append("\(error)")
            }
        }
        return nil
    }

    /// Deletes all but the newest `keep` checkpoints, never one that `latest` or `best` names.
    private static func prune(runFolder: String, keep: Int) {
        let all = checkpoints(in: runFolder)
        var kept = Set(all.suffix(max(keep, 1)))
        for pointerName in ["latest", "best"] {
            if let folder = try? pointer(named: pointerName, in: runFolder) { kept.insert((folder as NSString).lastPathComponent) }
        }
        for name in all where !kept.contains(name) {
            try? FileManager.default.removeItem(atPath: path(runFolder, name))
        }
    }

    private static func removeStaleTemporaries(in runFolder: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runFolder)) ?? []
        for name in names where name.hasPrefix("ckpt-") && name.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(atPath: path(runFolder, name))
        }
    }
}
