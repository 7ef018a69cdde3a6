import Foundation

/// A run's folder on disk: creating it, branching a run into a new one, and preparing an
/// existing one to continue from a checkpoint, so that nothing already in it is lost.
enum RunFolder {
    /// Keeps the first `lines` lines of the run's metrics (those logged up to the checkpoint at
    /// `step`) and writes the continuing run's resolved configuration. Nothing is lost: metrics
    /// logged after the checkpoint move to `metrics-superseded-at-step-N.jsonl`, and a
    /// `config.json` that differs from the new one to `config-superseded-at-step-N.json`.
    /// Returns a line per file kept aside.
    static func continueMetrics(folder: String, lines: Int, step: Int, config: TrainConfig) throws(TrainError) -> [String] {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        let metricsPath = path("metrics.jsonl")
        let configPath = path("config.json")
        var keptAside: [String] = []
        do {
            let all = metricsLines(in: folder)
            let superseded = all.dropFirst(lines)
            if !superseded.isEmpty {
                let aside = try unusedPath(folder: folder, stem: "metrics-superseded-at-step-\(step)", extension: "jsonl")
                try writeLines(superseded, to: aside)
                keptAside.append("kept the \(superseded.count) metrics lines logged after step \(step) in \(aside)")
            }
            try writeLines(all.prefix(lines), to: metricsPath)
            let resolved = try config.resolvedJSON()
            if let previous = FileManager.default.contents(atPath: configPath), previous != resolved {
                let aside = try unusedPath(folder: folder, stem: "config-superseded-at-step-\(step)", extension: "json")
                try previous.write(to: URL(fileURLWithPath: aside), options: .atomic)
                keptAside.append("the configuration changed; kept the previous config.json as \(aside)")
            }
            try resolved.write(to: URL(fileURLWithPath: configPath), options: .atomic)
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("\(folder): cannot prepare the run folder to continue (\(error.localizedDescription))")
        }
        return keptAside
    }

    /// The non-empty lines of `folder/metrics.jsonl` (none when it is missing).
    static func metricsLines(in folder: String) -> [Substring] {
        let text = (try? String(contentsOfFile: (folder as NSString).appendingPathComponent("metrics.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: true)
    }

    /// Writes `lines`, each ended by a newline, to `path` atomically.
    static func writeLines(_ lines: ArraySlice<Substring>, to path: String) throws {
        try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
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
    /// and the first `lines` lines of the source's metrics (those logged up to the checkpoint).
    static func startBranch(folder: String, from source: String, lines: Int, config: TrainConfig, overwrite: Bool) throws(TrainError) {
        func canonical(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        guard canonical(folder) != canonical(source) else {
            throw TrainError("--branch: \(folder) is the checkpoint's own run folder; choose another name (--set name=...) or resume without --branch")
        }
        let kept = metricsLines(in: source).prefix(lines)
        try create(folder, config: config, overwrite: overwrite)
        let path = (folder as NSString).appendingPathComponent("metrics.jsonl")
        do {
            try writeLines(kept, to: path)
        } catch {
            throw TrainError("\(path): cannot write (\(error.localizedDescription))")
        }
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
