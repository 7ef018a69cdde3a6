import ArgumentParser
import Checkpoint
import Cluster
import Foundation
import DistributedSearch
import GradientFree
import Support
import Train

/// Where an `es` job resumes: after `step` iterations of the whole job, with the methods before
/// `methodIndex` finished (`completed`) and method `methodIndex` at `state` (nil: not begun).
struct ESCheckpoint {
    var step: Int
    /// The configuration as JSON without the fields a resumed job may change (`ESConfiguration.compatibility`).
    var configuration: JSONValue
    var methodIndex: Int
    var completed: [AdaptationRun.Outcome]
    var state: SearchState?

    static let job = "es"

    /// The manifest and the two tensor files: the current mean in `model.safetensors` (the
    /// solution so far, for a reader), the run's and search's state in `optim.safetensors`.
    func contents(mean: [Double]) throws -> CheckpointContents {
        let manifest: [String: JSONValue] = [
            "job": .string(Self.job),
            "configuration": configuration,
            "methodIndex": .number(Double(methodIndex)),
            "completed": try JSONValue(encoding: completed),
            "hasState": .bool(state != nil),
        ]
        return CheckpointContents(
            manifest: manifest, model: [StoredTensor(name: "mean", shape: [mean.count], doubles: mean)], optimizer: state?.tensors ?? [])
    }

    /// The checkpoint `contents` (read from `folder`) holds, checked against `configuration` and
    /// `methodCount`; every problem is one line naming the folder.
    init(_ contents: CheckpointContents, folder: String, configuration: JSONValue, methodCount: Int) throws(ValidationError) {
        let manifest = contents.manifest
        func problem(_ text: String) -> ValidationError { ValidationError("\(folder): \(text)") }
        guard manifest["job"]?.string == Self.job else {
            throw problem("not a checkpoint of spectrain es (job \(manifest["job"]?.string.map(Untrusted.quote) ?? "missing"))")
        }
        guard let step = manifest["step"]?.integer, step >= 0 else { throw problem("manifest.json: 'step' is not a count") }
        guard let stored = manifest["configuration"] else { throw problem("manifest.json: 'configuration' is missing") }
        if let difference = Self.firstDifference(stored, configuration, path: "") {
            throw problem("was written with another configuration (\(difference)); only maxEvaluations, logEvery and checkpointEvery may change on resume")
        }
        guard let methodIndex = manifest["methodIndex"]?.integer, (0...methodCount).contains(methodIndex) else {
            throw problem("manifest.json: 'methodIndex' is not in 0...\(methodCount)")
        }
        let completed: [AdaptationRun.Outcome]
        do {
            completed = try (manifest["completed"] ?? .null).decoded(as: [AdaptationRun.Outcome].self)
        } catch {
            throw problem("manifest.json: 'completed' does not hold the finished methods' outcomes")
        }
        guard completed.count == methodIndex else {
            throw problem("manifest.json: \(completed.count) finished methods for method index \(methodIndex)")
        }
        guard case .bool(let hasState) = manifest["hasState"] ?? .null else { throw problem("manifest.json: 'hasState' is not true or false") }
        self.step = step
        self.configuration = stored
        self.methodIndex = methodIndex
        self.completed = completed
        state = hasState ? SearchState(reading: contents.optimizer) : nil
    }

    init(step: Int, configuration: JSONValue, methodIndex: Int, completed: [AdaptationRun.Outcome], state: SearchState?) {
        (self.step, self.configuration, self.methodIndex, self.completed, self.state) = (step, configuration, methodIndex, completed, state)
    }

    /// Where two configurations first differ, e.g. "search.populationSize: 10 then 12"; nil if equal.
    static func firstDifference(_ stored: JSONValue, _ current: JSONValue, path: String) -> String? {
        if case .object(let old) = stored, case .object(let new) = current {
            for key in Set(old.keys).union(new.keys).sorted() {
                let field = path.isEmpty ? key : path + "." + key
                if let difference = firstDifference(old[key] ?? .null, new[key] ?? .null, path: field) { return difference }
            }
            return nil
        }
        guard stored != current else { return nil }
        func shown(_ value: JSONValue) -> String {
            value == .null ? "not set" : Untrusted.oneLine(String(decoding: value.encoded(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return "\(path.isEmpty ? "the configuration" : path): \(shown(stored)) then \(shown(current))"
    }
}

/// The folder of an `es` job run with `--run` or `--resume`: `metrics.jsonl`, one `SearchRecord`
/// per iteration, and checkpoints (`CheckpointStore`: never half-written, `latest` naming the
/// newest) every `checkpointEvery` iterations and at the end of each method. Rank 0 writes; on
/// resume rank 0 reads and sends the checkpoint to the other ranks.
final class ESRunFolder {
    let path: String
    private let writes: Bool
    private var metrics: FileHandle?
    private let encoder = NonFiniteJSON.encoder([.sortedKeys])
    static let kept = 2

    private init(path: String, writes: Bool) {
        self.path = path
        self.writes = writes
    }

    deinit { try? metrics?.close() }

    private var metricsPath: String { (path as NSString).appendingPathComponent("metrics.jsonl") }

    /// A new run in `path`: refused when the folder holds an earlier run, unless `overwrite`,
    /// which removes that run's metrics and checkpoints (nothing else in the folder).
    static func create(_ path: String, overwrite: Bool, communicator: any Communicator) throws -> ESRunFolder {
        let folder = ESRunFolder(path: path, writes: communicator.rank == 0)
        try folder.onRankZero(communicator) {
            let earlier = RunFolder.exists(folder.metricsPath) || !CheckpointStore.checkpoints(in: path).isEmpty
                || RunFolder.exists((path as NSString).appendingPathComponent("latest"))
            if earlier {
                guard overwrite else {
                    throw ValidationError("\(path): holds an earlier run (metrics.jsonl or checkpoints); continue it with --resume \(path), or replace it with --overwrite")
                }
                for name in ["metrics.jsonl", "latest", "best"] + CheckpointStore.checkpoints(in: path) {
                    let item = (path as NSString).appendingPathComponent(name)
                    if RunFolder.exists(item) {
                        do { try FileManager.default.removeItem(atPath: item) } catch {
                            throw ValidationError("\(item): cannot remove (\(RegularFile.reason()))")
                        }
                    }
                }
            }
            try folder.openMetrics(truncating: true)
        }
        return folder
    }

    /// The run in `path` continued from its latest checkpoint, which must have been written with
    /// `configuration`: the checkpoint, on every rank. `metrics.jsonl` keeps the lines up to the
    /// checkpoint; later ones are kept aside (`RunFolder.continueMetricsLog`), each such file
    /// reported through `note`.
    static func resume(
        _ path: String, configuration: JSONValue, methodCount: Int, communicator: any Communicator, note: (String) -> Void
    ) throws -> (ESRunFolder, ESCheckpoint) {
        let folder = ESRunFolder(path: path, writes: communicator.rank == 0)
        var payload: [UInt8] = []
        try folder.onRankZero(communicator) {
            let checkpointFolder = try CheckpointStore.resolve(path)
            let contents = try CheckpointStore.read(checkpointFolder)
            let checkpoint = try ESCheckpoint(contents, folder: checkpointFolder, configuration: configuration, methodCount: methodCount)
            for line in try RunFolder.continueMetricsLog(folder: path, step: checkpoint.step) { note(line) }
            try folder.openMetrics(truncating: false)
            // What the other ranks need: the manifest as JSON, then the state tensors.
            let manifest = [UInt8](JSONValue.object(contents.manifest).encoded())
            payload = withUnsafeBytes(of: UInt64(manifest.count).littleEndian) { Array($0) } + manifest
                + SafeTensors.encode(contents.optimizer, metadata: [:])
        }
        payload = try communicator.broadcast(bytes: payload, root: 0)
        let damaged = ValidationError("\(path): the checkpoint arrived damaged from rank 0")
        guard payload.count >= 8 else { throw damaged }
        let manifestLength = payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard manifestLength <= UInt64(payload.count - 8) else { throw damaged }
        let manifestEnd = 8 + Int(manifestLength)
        guard case .object(let manifest) = try JSONValue(parsing: Data(payload[8..<manifestEnd])) else { throw damaged }
        let tensors = try SafeTensors.decode(Array(payload[manifestEnd...]), path: path).tensors.values.sorted { $0.name < $1.name }
        let checkpoint = try ESCheckpoint(
            CheckpointContents(manifest: manifest, model: [], optimizer: tensors), folder: path, configuration: configuration, methodCount: methodCount)
        return (folder, checkpoint)
    }

    /// Runs `body` on rank 0; its error, if any, ends every rank with the same one-line message.
    private func onRankZero(_ communicator: any Communicator, _ body: () throws -> Void) throws {
        var message: [UInt8] = []
        if communicator.rank == 0 {
            do { try body() } catch { message = Array(Untrusted.controlCharactersEscaped("\(error)").utf8) }
        }
        let received = communicator.size > 1 ? try communicator.broadcast(bytes: message, root: 0) : message
        if !received.isEmpty { throw ValidationError(String(decoding: received, as: UTF8.self)) }
    }

    private func openMetrics(truncating: Bool) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("\(path): cannot create the run folder (\(RegularFile.reason()))")
        }
        let flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncating ? O_TRUNC : 0)
        let descriptor = open(metricsPath, flags, 0o644)
        guard descriptor >= 0 else { throw ValidationError("\(metricsPath): cannot open for writing (\(RegularFile.reason()))") }
        metrics = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Appends `record` as one line (rank 0), in one write.
    func append(_ record: SearchRecord) throws {
        guard writes, let metrics else { return }
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        do { try metrics.write(contentsOf: line) } catch {
            throw ValidationError("\(metricsPath): cannot append (\((error as NSError).localizedDescription))")
        }
    }

    /// Writes `checkpoint` (rank 0) and returns its folder; `mean` is the current search's mean.
    @discardableResult
    func save(_ checkpoint: ESCheckpoint, mean: [Double]) throws -> String? {
        guard writes else { return nil }
        return try CheckpointStore.write(try checkpoint.contents(mean: mean), step: checkpoint.step, runFolder: path, keep: Self.kept)
    }
}
