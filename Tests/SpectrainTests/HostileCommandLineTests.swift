import Foundation
import Testing

/// Command lines a user can get wrong: each is one line on standard error and a plain failure
/// status, never a crash (a Swift trap ends with SIGILL or SIGTRAP: status 132 or 133).
@Suite("hostile command lines")
struct HostileCommandLineTests {
    static let cases: [(arguments: [String], message: String)] = [
        (["train", CommandTests.config("fashion-mlp.json"), "--plan-only", "--ranks", "9223372036854775807"], "--ranks must be in 1...65536"),
        (["train", CommandTests.config("fashion-mlp.json"), "--plan-only", "--ranks", "0"], "--ranks must be in 1...65536"),
        (["train", CommandTests.config("fashion-mlp.json"), "--stop-signals", "TERM,KILL"], "--stop-signals: 'KILL' is not one of"),
        (["train", CommandTests.config("fashion-mlp.json"), "--resume", "auto", "--branch"], "--branch needs a run or checkpoint folder"),
        (["train", CommandTests.config("fashion-mlp.json"), "--set", "training.epochs=1e30"], "field 'training.epochs'"),
        (["train", CommandTests.config("fashion-mlp.json"), "--set", #"model.layers=[{"type":"flatten"},{"type":"linear","outputs":1000000000},{"type":"linear","outputs":10}]"#],
         "more than this machine's"),
    ]

    @Test("each bad command line is one error line and status 1 or 64, not a trap", arguments: cases.indices)
    func rejected(_ index: Int) throws {
        let (arguments, message) = Self.cases[index]
        let result = try ProcessRunner.run(arguments, timeout: 60)
        #expect(result.status == 1 || result.status == 64, "status \(result.status): \(result.allOutput)")
        let lines = result.errorOutput.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See ") && !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].contains(message), "\(result.errorOutput)")
    }
}
