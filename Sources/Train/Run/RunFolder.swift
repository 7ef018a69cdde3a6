import Foundation
import Support

/// A run's folder on disk: creating it, branching a run into a new one, and preparing an
/// existing one to continue from a checkpoint, so that nothing already in it is lost.
package enum RunFolder {
    /// Keeps the run's metrics logged up to the checkpoint at `step` and writes the continuing
    /// run's resolved configuration. Nothing is lost: every other line of `metrics.jsonl` (logged
    /// after `step`, unreadable, or cut short at the end) moves byte for byte to
    /// `metrics-superseded-at-step-N.jsonl`, and a `config.json` that differs from the new one to
    /// `config-superseded-at-step-N.json`. Returns a line per file kept aside.
    static func continueMetrics(folder: String, step: Int, config: TrainConfig) throws(TrainError) -> [String] {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        let configPath = path("config.json")
        var keptAside: [String] = []
        let resolved: Data
        do {
            resolved = try config.resolvedJSON()
        } catch let EncodingError.invalidValue(value, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw TrainError("\(configPath): cannot write the configuration (field '\(field)': \(value) cannot be written as JSON)")
        } catch {
            throw TrainError("\(configPath): cannot write the configuration")
        }
        // Read before anything in the folder changes, as a file from outside (a FIFO must not block).
        let previous: Data?
        do {
            previous = try RegularFile.readIfPresent(configPath, limit: ConfigurationFile.maximumFileBytes).map { Data($0) }
        } catch {
            throw TrainError("\(error)")
        }
        keptAside += try continueMetricsLog(folder: folder, step: step)
        if let previous, previous != resolved {
            let aside = try unusedPath(folder: folder, stem: "config-superseded-at-step-\(step)", extension: "json")
            try write(previous, to: aside)
            keptAside.append("the configuration changed; kept the previous config.json as \(aside)")
        }
        try write(resolved, to: configPath)
        return keptAside
    }

    /// Keeps the lines of `folder/metrics.jsonl` logged up to the checkpoint at `step` (any JSON
    /// line with an integer "step": training's records and `es`'s alike); every other line moves
    /// byte for byte to `metrics-superseded-at-step-N.jsonl`. Returns a line per file kept aside.
    package static func continueMetricsLog(folder: String, step: Int) throws(TrainError) -> [String] {
        let cut = try metrics(in: folder).cut(atStep: step)
        var keptAside: [String] = []
        if !cut.superseded.isEmpty {
            let aside = try unusedPath(folder: folder, stem: "metrics-superseded-at-step-\(step)", extension: "jsonl")
            try write(MetricsLog.Cut.bytes(of: cut.superseded), to: aside)
            keptAside.append(describe(cut, aside: aside))
        }
        try write(MetricsLog.Cut.bytes(of: cut.kept), to: (folder as NSString).appendingPathComponent("metrics.jsonl"))
        return keptAside
    }

    /// The report line for the metrics lines `cut` set aside in `aside`.
    static func describe(_ cut: MetricsLog.Cut, aside: String) -> String {
        let count = cut.superseded.count
        let lines = count == 1 ? "line" : "lines"
        if cut.later == count { return "kept the \(count) metrics \(lines) logged after step \(cut.step) in \(aside)" }
        return "kept \(count) metrics \(lines) aside in \(aside): \(cut.supersededReasons)"
    }

    /// The metrics log of the run in `folder` (empty when it has none).
    static func metrics(in folder: String) throws(TrainError) -> MetricsLog {
        let path = (folder as NSString).appendingPathComponent("metrics.jsonl")
        return exists(path) ? try MetricsLog.read(path) : MetricsLog(path: path, bytes: Data())
    }

    /// Whether anything, even a dangling symbolic link, is at `path`.
    package static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 || errno != ENOENT
    }

    /// Writes `data` to `path` atomically.
    static func write(_ data: Data, to path: String) throws(TrainError) {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            throw TrainError("\(path): cannot write (\((underlying ?? error as NSError).localizedDescription))")
        }
    }

    /// `folder/stem.extension`, or `stem-2`, `stem-3`, ... if taken (a run resumed twice from
    /// the same checkpoint keeps both earlier continuations).
    static func unusedPath(folder: String, stem: String, extension suffix: String) throws(TrainError) -> String {
        for attempt in 1...10_000 {
            let name = attempt == 1 ? "\(stem).\(suffix)" : "\(stem)-\(attempt).\(suffix)"
            let candidate = (folder as NSString).appendingPathComponent(name)
            if !FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw TrainError("\(folder): no free name for \(stem).\(suffix)")
    }

    /// Creates the run folder `folder` of a branch from the run in `source`, with `config.json`
    /// and a byte-for-byte copy of the source's `metrics.jsonl`, which `continueMetrics` then
    /// cuts at the checkpoint's step as for a resume. The source is left as it is.
    static func startBranch(folder: String, from source: String, config: TrainConfig, overwrite: Bool) throws(TrainError) {
        func canonical(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        guard canonical(folder) != canonical(source) else {
            throw TrainError("--branch: \(folder) is the checkpoint's own run folder; choose another name (--set name=...) or resume without --branch")
        }
        let sourceMetrics = (source as NSString).appendingPathComponent("metrics.jsonl")
        let bytes = try exists(sourceMetrics) ? MetricsLog.readBytes(sourceMetrics, maxBytes: MetricsLog.maxBytes) : Data()
        try create(folder, config: config, overwrite: overwrite)
        try write(bytes, to: (folder as NSString).appendingPathComponent("metrics.jsonl"))
    }

    /// Creates the run folder and writes `config.json` into it.
    static func create(_ folder: String, config: TrainConfig, overwrite: Bool) throws(TrainError) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: folder, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TrainError("\(folder) exists and is not a folder") }
            let contents = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
            if !contents.isEmpty && !overwrite {
                throw TrainError("\(folder) already holds a run; choose another name (--set name=...), remove it, or pass --overwrite")
            }
            for item in contents where overwrite {
                try? manager.removeItem(atPath: (folder as NSString).appendingPathComponent(item))
            }
        }
        do {
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try config.resolvedJSON().write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("config.json")), options: .atomic)
        } catch {
            throw TrainError("\(folder): cannot create the run folder (\(error.localizedDescription))")
        }
    }
}
