// TEMPORARY: the rel-checkpoint branch replaces this file's functions; delete on merge.
import Foundation

extension CheckpointStore {
    @discardableResult
    public static func write(
        _ contents: CheckpointContents, step: Int, runFolder: String, keep: Int, advanceLatest: Bool, markBest: Bool,
        pauseBeforeCommit: Double = 0
    ) throws(CheckpointError) -> String {
        try write(contents, step: step, runFolder: runFolder, keep: keep, pauseBeforeCommit: pauseBeforeCommit)
    }

    public static func newestComplete(in runFolder: String, accept: (CheckpointContents) -> Bool = { _ in true }) -> (folder: String, skipped: [String])? {
        var skipped: [String] = []
        for name in checkpoints(in: runFolder).reversed() {
            let folder = (runFolder as NSString).appendingPathComponent(name)
            do {
                let contents = try read(folder)
                if accept(contents) { return (folder, skipped) }
                skipped.append("\(folder): not accepted")
            } catch {
                skipped.append("\(error)")
            }
        }
        return nil
    }
}
