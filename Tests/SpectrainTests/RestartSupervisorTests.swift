import Foundation
import Testing

/// `launch/run-with-restarts.sh` with a stand-in for spectrain whose exit status is set per
/// attempt: what it restarts, on how many ranks, with which arguments, and when it gives up.
@Suite("restart supervisor")
struct RestartSupervisorTests {
    static let supervisor = CommandTests.root.appendingPathComponent("launch/run-with-restarts.sh").path

    /// Runs the supervisor with `options` on a stand-in that exits `statuses[attempt - 1]` and
    /// logs "attempt ranks arguments" per process; returns the result and the log lines.
    func supervise(_ options: String, statuses: [Int]) throws -> (ProcessRunner.Result, [String]) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-restarts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("log").path
        let standIn = folder.appendingPathComponent("spectrain").path
        let cases = statuses.enumerated().map { "\($0.offset + 1)) exit \($0.element) ;;" }.joined(separator: " ")
        try """
            #!/bin/bash
            echo "$SPECTRAIN_ATTEMPT ${OMPI_COMM_WORLD_SIZE:-1} $*" >> '\(log)'
            case "$SPECTRAIN_ATTEMPT" in \(cases) *) exit 99 ;; esac
            """.write(toFile: standIn, atomically: true, encoding: .utf8)
        chmod(standIn, 0o755)
        let result = try ProcessRunner.runScript("SPECTRAIN_BIN='\(standIn)' '\(Self.supervisor)' \(options) -- configs/x.json --set a=b", timeout: 120)
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).sorted()
        return (result, lines)
    }

    @Test("a failure restarts on the next rank count, a stop (75) continues, success ends; every attempt resumes automatically")
    func restarts() throws {
        let (result, lines) = try supervise("--max-restarts 2 --ranks \"2 1\"", statuses: [3, 75, 0])
        #expect(result.status == 0, "\(result.allOutput)")
        let arguments = "train configs/x.json --set a=b --resume auto"
        #expect(lines == ["1 2 \(arguments)", "1 2 \(arguments)", "2 1 \(arguments)", "3 1 \(arguments)"], "\(result.allOutput)")
        #expect(result.errorOutput.contains("attempt 1 failed (exit 3); restarting from the newest checkpoint on 1 rank(s)"))
        #expect(result.errorOutput.contains("attempt 2 stopped after a checkpoint (exit 75); continuing"))
    }

    @Test("after --max-restarts failed restarts it gives up with the last status")
    func givesUp() throws {
        let (result, lines) = try supervise("--max-restarts 1", statuses: [4, 5, 0])
        #expect(result.status == 5, "\(result.allOutput)")
        #expect(lines.count == 2)
        #expect(result.errorOutput.contains("giving up after 1 restart(s)"))
    }

    @Test("bad options are one line and exit 2")
    func badOptions() throws {
        for options in ["--max-restarts x", "--ranks \"2 zero\"", "--bogus"] {
            let result = try ProcessRunner.runScript("'\(Self.supervisor)' \(options) -- c.json", timeout: 30)
            #expect(result.status == 2, "\(options): \(result.allOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(options): \(result.errorOutput)")
        }
    }
}
