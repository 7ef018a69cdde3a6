import Foundation
@testable import GradientFree
import Linalg
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An objective command that misbehaves cannot hang or outlive the run: every evaluation has a
/// deadline, an answer has a size limit, and a stopped command is gone with its children.
@Suite("Command objective", .serialized)
struct CommandObjectiveTests {
    /// A temporary folder holding the test's scripts and the process ids they write.
    final class Scratch {
        let folder: URL

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-objective-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(at: folder) }

        /// The path of `name` in the folder.
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

        /// A bash script that closes the descriptors it inherited beyond the standard three
        /// (those of processes other tests of this process run: a command that outlives its
        /// test must not hold them), writes its process id (`$$`, the command's own once
        /// spawned) to `pid`, then runs `body`; the command that runs it.
        func script(_ body: String) throws -> [String] {
            let script = path("objective.sh")
            let prelude = """
                for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
                echo $$ > '\(path("pid"))'

                """
            try (prelude + body + "\n").write(toFile: script, atomically: true, encoding: .utf8)
            return ["/bin/bash", script]
        }

        /// The process id the script wrote, waiting up to 5 s for it.
        func pid(_ name: String = "pid") throws -> pid_t {
            for _ in 0..<500 {
                if let text = try? String(contentsOfFile: path(name), encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    return pid
                }
                usleep(10_000)
            }
            throw AdaptationError("no process id in \(path(name))")
        }
    }

    /// Whether process `pid` is gone (or a zombie nobody has reaped yet: it runs nothing),
    /// waiting up to `seconds` for it.
    static func isGone(_ pid: pid_t, within seconds: Double = 2) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if kill(pid, 0) != 0 && errno == ESRCH { return true }
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let close = stat.lastIndex(of: ")"), stat[stat.index(after: close)...].hasPrefix(" Z") {
                return true
            }
            usleep(10_000)
        } while Date() < deadline
        return false
    }

    /// Evaluates `objective` at the point (1, 2): the value, or the error's description.
    static func evaluate(_ objective: CommandObjective, dimension: Int = 2) -> Result<Double, AdaptationError> {
        let point = (0..<dimension).map { Double($0 + 1) }
        return Result { () throws(AdaptationError) -> Double in
            do {
                return try point.withUnsafeBufferPointer { try objective.value($0) }
            } catch let error as AdaptationError {
                throw error
            } catch {
                throw AdaptationError("unexpected \(error)")
            }
        }
    }

    /// The error of a failed evaluation and how long it took (a value fails the test).
    static func failure(_ objective: CommandObjective, dimension: Int = 2) -> (message: String, seconds: Double) {
        let start = Date()
        let result = evaluate(objective, dimension: dimension)
        let seconds = Date().timeIntervalSince(start)
        switch result {
        case .success(let value):
            Issue.record("expected an error, got the value \(value)")
            return ("", seconds)
        case .failure(let error):
            #expect(!error.description.contains("\n"), "\(error.description)")
            #expect(error.description.hasPrefix("objective command '"), "\(error.description)")
            return (error.description, seconds)
        }
    }

    @Test("the command runs in a process group of its own and gets the parent-death signal here")
    func processGroup() throws {
        let scratch = try Scratch()
        let objective = CommandObjective(command: try scratch.script("while read line; do echo 2.5; done"), dimension: 2, timeoutSeconds: 5)
        #expect(try Self.evaluate(objective).get() == 2.5)
        let pid = try scratch.pid()
        #expect(objective.processID == pid)
        #expect(getpgid(pid) == pid)
        // util-linux's setpriv is in every Debian/Ubuntu base system this runs on.
        #expect(CommandProcess.diesWithParent)
        let start = Date()
        objective.finish()
        #expect(Date().timeIntervalSince(start) < 1, "a command that exits at the end of its input is not waited for")
        #expect(Self.isGone(pid, within: 0))
    }

    @Test("a command that never answers: an error naming it, the point and the timeout, within the timeout; it and its children are gone")
    func neverAnswers() throws {
        let scratch = try Scratch()
        let command = try scratch.script("sleep 1000 & echo $! > '\(scratch.path("child"))'\nexec sleep 1000")
        let objective = CommandObjective(command: command, dimension: 2, timeoutSeconds: 1)
        let (message, seconds) = Self.failure(objective)
        #expect(message == "objective command '\(command.joined(separator: " "))': no answer to point 1 within the timeout of 1 s; stopped it")
        #expect(seconds >= 1 && seconds < 3, "took \(seconds) s")
        #expect(Self.isGone(try scratch.pid()))
        #expect(Self.isGone(try scratch.pid("child")), "the command's own child outlived it")
        #expect(objective.processID == nil)
        // The command is not restarted: the same error again, at once.
        let again = Self.failure(objective)
        #expect(again.message == message)
        #expect(again.seconds < 0.5)
    }

    @Test("a command that answers the first points, then goes silent: the timeout names the point it hung on")
    func hangsLater() throws {
        let scratch = try Scratch()
        let objective = CommandObjective(command: try scratch.script("read a; echo 1; read b; echo 2; exec sleep 1000"), dimension: 2, timeoutSeconds: 1)
        #expect(try Self.evaluate(objective).get() == 1)
        #expect(try Self.evaluate(objective).get() == 2)
        #expect(Self.failure(objective).message.hasSuffix("no answer to point 3 within the timeout of 1 s; stopped it"))
        #expect(Self.isGone(try scratch.pid()))
    }

    @Test("a command that never reads its input, given a point larger than a pipe holds: the write times out")
    func neverReads() throws {
        let scratch = try Scratch()
        // 20000 coordinates of about 18 characters: far more than the 64 KiB a pipe buffers.
        let objective = CommandObjective(command: try scratch.script("exec sleep 1000"), dimension: 20_000, timeoutSeconds: 1)
        let (message, seconds) = Self.failure(objective, dimension: 20_000)
        #expect(message.hasSuffix("no answer to point 1 within the timeout of 1 s; stopped it"), "\(message)")
        #expect(seconds >= 1 && seconds < 3, "took \(seconds) s")
        #expect(Self.isGone(try scratch.pid()))
    }

    @Test("a last value written without a newline, then the output closed, is the answer; the next point is an error")
    func valueWithoutNewline() throws {
        let scratch = try Scratch()
        let objective = CommandObjective(command: try scratch.script("read line; printf 1.5"), dimension: 2, timeoutSeconds: 5)
        #expect(try Self.evaluate(objective).get() == 1.5)
        let (message, seconds) = Self.failure(objective)
        #expect(message.contains("': exited with status 0 (it must keep running and answer every line) before "), "\(message)")
        #expect(message.hasSuffix("point 2"), "\(message)")
        #expect(seconds < 2)
    }

    @Test("a partial line, then silence: the timeout, saying how much came")
    func partialLine() throws {
        let scratch = try Scratch()
        let objective = CommandObjective(command: try scratch.script("read line; printf 1.; exec sleep 1000"), dimension: 2, timeoutSeconds: 1)
        let (message, seconds) = Self.failure(objective)
        #expect(message.hasSuffix("no answer to point 1 within the timeout of 1 s (2 bytes without a newline so far); stopped it"), "\(message)")
        #expect(seconds >= 1 && seconds < 3, "took \(seconds) s")
        #expect(Self.isGone(try scratch.pid()))
    }

    /// A flood of 8 MB without a newline stops at the limit, long before the 30 s timeout; an
    /// answer of exactly the limit (a number padded with spaces) is still read.
    @Test("an answer longer than 1 MiB is an error as soon as the limit is passed; one of exactly 1 MiB is read")
    func lineLimit() throws {
        let limit = CommandObjective.maximumAnswerBytes
        let scratch = try Scratch()
        let flood = CommandObjective(
            command: try scratch.script("read line; head -c 8000000 /dev/zero | tr '\\0' 7; exec sleep 1000"), dimension: 2, timeoutSeconds: 30)
        let (message, seconds) = Self.failure(flood)
        #expect(message.hasSuffix("wrote more than 1 MiB without a newline answering point 1"), "\(message)")
        #expect(seconds < 10, "took \(seconds) s")
        #expect(Self.isGone(try scratch.pid()))

        let padded = CommandObjective(
            command: try scratch.script("read line; printf 4; head -c \(limit - 1) /dev/zero | tr '\\0' ' '; echo; read line; printf 5; head -c \(limit) /dev/zero | tr '\\0' ' '; echo; exec sleep 1000"),
            dimension: 2, timeoutSeconds: 30)
        #expect(try Self.evaluate(padded).get() == 4)
        #expect(Self.failure(padded).message.hasSuffix("wrote more than 1 MiB without a newline answering point 2"))
    }

    @Test("a command that exits before reading is an error with its status, and the broken pipe does not end this process")
    func exitsAtOnce() throws {
        let scratch = try Scratch()
        let objective = CommandObjective(command: try scratch.script("exit 3"), dimension: 20_000, timeoutSeconds: 5)
        let (message, _) = Self.failure(objective, dimension: 20_000)
        #expect(message.contains("': exited with status 3 before "), "\(message)")
        let missing = CommandObjective(command: ["/nonexistent/objective"], dimension: 2, timeoutSeconds: 5)
        #expect(Self.failure(missing).message.contains("exited with status 127 (program not found?)"))
    }

    @Test("control characters in the command or an answer are escaped: the message stays one line")
    func controlCharacters() throws {
        let command = ["/bin/sh", "-c", "read line\nprintf '1\\r2\\n'", "tab\there"]
        let objective = CommandObjective(command: command, dimension: 2, timeoutSeconds: 5)
        #expect(Self.failure(objective).message
                == #"objective command '/bin/sh -c read line\nprintf '1\r2\n' tab\there': answered '1\r2' to point 1, not a number"#)
    }

    @Test("finish stops a command that ignores the end of its input and SIGTERM within about 2 s")
    func finishKills() throws {
        let scratch = try Scratch()
        let objective = CommandObjective(
            command: try scratch.script("trap '' TERM; read line; echo 1; while :; do sleep 1; done"), dimension: 2, timeoutSeconds: 5)
        #expect(try Self.evaluate(objective).get() == 1)
        let pid = try scratch.pid()
        let start = Date()
        objective.finish()
        let seconds = Date().timeIntervalSince(start)
        #expect(seconds >= 1.5 && seconds < 4, "took \(seconds) s")
        #expect(Self.isGone(pid, within: 0))
    }

    /// Four points of 3 coordinates whose texts take all 17 digits, a tiny and a large exponent,
    /// and a negative zero; rows 1 to 3 are the share evaluated.
    static let batchPoints = Matrix<Double>(rows: 4, columns: 3, elements: [
        9, 9, 9,
        1.0 / 3, -2e-300, 12345.678,
        0.1, -0.0, 1e300,
        -7.25, 2.0 / 3, 5,
    ])

    /// The values of rows 1 to 3 of `batchPoints` (row 0 stays NaN), or the error.
    static func batchValues(_ objective: CommandObjective) -> Result<[Double], AdaptationError> {
        var values = [Double](repeating: .nan, count: 4)
        do {
            try objective.values(of: batchPoints, rows: 1..<4, into: &values)
            return .success(values)
        } catch let error as AdaptationError {
            return .failure(error)
        } catch {
            return .failure(AdaptationError("unexpected \(error)"))
        }
    }

    /// The error of a failed batch of rows 1 to 3 and how long it took (values fail the test);
    /// the message must be one line naming the command.
    static func batchFailure(_ objective: CommandObjective) -> (message: String, seconds: Double) {
        let start = Date()
        let result = batchValues(objective)
        let seconds = Date().timeIntervalSince(start)
        switch result {
        case .success(let values):
            Issue.record("expected an error, got the values \(values)")
            return ("", seconds)
        case .failure(let error):
            #expect(!error.description.contains("\n"), "\(error.description)")
            #expect(error.description.hasPrefix("objective command '"), "\(error.description)")
            return (error.description, seconds)
        }
    }

    /// Both commands log what they read and answer each point with its first coordinate, so
    /// the values show which point each answer went to, and the logs what was sent.
    @Test("the batch protocol sends the point protocol's lines after a header 'batch <count>' and gives the same values, in order")
    func batchMatchesPoints() throws {
        let scratch = try Scratch()
        let pointLog = scratch.path("point.log")
        let batchLog = scratch.path("batch.log")
        let pointObjective = CommandObjective(
            command: try scratch.script(#"while IFS= read -r line; do printf '%s\n' "$line" >> '\#(pointLog)'; echo "${line%% *}"; done"#),
            dimension: 3, timeoutSeconds: 5)
        let pointValues = try Self.batchValues(pointObjective).get()
        pointObjective.finish()
        // The answers come in one write after the whole batch is read.
        let batchObjective = CommandObjective(command: try scratch.script(#"""
            while IFS= read -r header; do
              printf '%s\n' "$header" >> '\#(batchLog)'
              answers=""
              for ((i = 0; i < ${header#batch }; i++)); do
                IFS= read -r line; printf '%s\n' "$line" >> '\#(batchLog)'; answers+="${line%% *}"$'\n'
              done
              printf '%s' "$answers"
            done
            """#), dimension: 3, timeoutSeconds: 5, wireProtocol: .batch)
        let batchValues = try Self.batchValues(batchObjective).get()
        // One point alone is a batch of 1.
        let single = try [4.5, 1, 2].withUnsafeBufferPointer { try batchObjective.value($0) }
        batchObjective.finish()

        #expect(pointValues[0].isNaN && batchValues[0].isNaN, "row 0 is not in the share")
        #expect(pointValues[1...].map(\.bitPattern) == [1.0 / 3, 0.1, -7.25].map(\.bitPattern))
        #expect(batchValues[1...].map(\.bitPattern) == pointValues[1...].map(\.bitPattern))
        #expect(single == 4.5)
        let pointLines = try String(contentsOfFile: pointLog, encoding: .utf8)
        #expect(pointLines == "0.33333333333333331 -2.0000000000000001e-300 12345.678\n0.10000000000000001 -0 1.0000000000000001e+300\n-7.25 0.66666666666666663 5\n")
        #expect(try String(contentsOfFile: batchLog, encoding: .utf8) == "batch 3\n" + pointLines + "batch 1\n4.5 1 2\n")
    }

    @Test("batch errors are one line naming the batch: a short answer, a line that is not a number, an exit mid-batch")
    func batchErrors() throws {
        let scratch = try Scratch()
        let readBatch = #"read header; for ((i = 0; i < ${header#batch }; i++)); do read line; done"#
        let short = CommandObjective(command: try scratch.script("\(readBatch); echo 1; echo 2"), dimension: 3, timeoutSeconds: 5, wireProtocol: .batch)
        let shortFailure = Self.batchFailure(short)
        #expect(shortFailure.message.hasSuffix("': exited with status 0 (it must keep running and answer every line) after answering 2 of the 3 points of batch 1"),
                "\(shortFailure.message)")
        #expect(shortFailure.seconds < 2)
        // The command is not restarted: the same error again, at once.
        let again = Self.batchFailure(short)
        #expect(again.message == shortFailure.message && again.seconds < 0.5)

        let garbage = CommandObjective(
            command: try scratch.script("\(readBatch); printf '1\\noops\\n3\\n'; exec sleep 1000"), dimension: 3, timeoutSeconds: 5, wireProtocol: .batch)
        #expect(Self.batchFailure(garbage).message.hasSuffix("': answered 'oops' to point 2 of 3 in batch 1, not a number"))
        #expect(Self.isGone(try scratch.pid()))

        // It reads the header and one point, answers it, and exits: the batch is in the pipe.
        let quitter = CommandObjective(command: try scratch.script("read header; read line; echo 1; exit 3"), dimension: 3, timeoutSeconds: 5, wireProtocol: .batch)
        #expect(Self.batchFailure(quitter).message.hasSuffix("': exited with status 3 after answering 1 of the 3 points of batch 1"))
        // A batch larger than a pipe holds, to a command that exits before reading it all.
        let large = CommandObjective(command: try scratch.script("read header; exit 4"), dimension: 20_000, timeoutSeconds: 5, wireProtocol: .batch)
        var values = [Double](repeating: 0, count: 3)
        do {
            try large.values(of: Matrix(rows: 3, columns: 20_000, repeating: 0.5), rows: 0..<3, into: &values)
            Issue.record("expected an error, got the values \(values)")
        } catch {
            #expect("\(error)" == "objective command '\(large.command.joined(separator: " "))': exited with status 4 before reading all of batch 1 (3 points)")
        }
    }

    @Test("the timeout is for the whole batch: answers slower than it in all are an error naming the point it stopped at; it is gone")
    func batchTimeout() throws {
        let scratch = try Scratch()
        // Each answer takes 0.7 s, well within the timeout of 2 s, but the third would come
        // after 2.1 s.
        let slow = CommandObjective(
            command: try scratch.script("read header; for i in 1 2 3; do read line; done; for i in 1 2 3; do sleep 0.7; echo $i; done; exec sleep 1000"),
            dimension: 3, timeoutSeconds: 2, wireProtocol: .batch)
        let (message, seconds) = Self.batchFailure(slow)
        #expect(message.hasSuffix("': no answer to point 3 of 3 in batch 1 within the timeout of 2 s for the batch; stopped it"), "\(message)")
        #expect(seconds >= 2 && seconds < 4, "took \(seconds) s")
        #expect(Self.isGone(try scratch.pid()))

        let silent = CommandObjective(command: try scratch.script("exec sleep 1000"), dimension: 3, timeoutSeconds: 1, wireProtocol: .batch)
        #expect(Self.batchFailure(silent).message.hasSuffix("': no answer to point 1 of 3 in batch 1 within the timeout of 1 s for the batch; stopped it"))
        #expect(Self.isGone(try scratch.pid()))
    }

    /// 4000 points (about 160 kB) and 4000 padded answers (about 400 kB), each far more than a
    /// pipe holds: without reading the answers while it writes, spectrain and the command would
    /// wait on each other until the timeout.
    @Test("a command that answers each point of a large batch as it reads it does not deadlock")
    func batchAnsweredWhileRead() throws {
        let scratch = try Scratch()
        let count = 4000
        let objective = CommandObjective(
            command: try scratch.script(#"read header; while read -r first rest; do printf '%s%100s\n' "$first" ""; done"#),
            dimension: 2, timeoutSeconds: 30, wireProtocol: .batch)
        let points = Matrix<Double>(rows: count, columns: 2, elements: (0..<(2 * count)).map { Double($0) / 7 })
        var values = [Double](repeating: .nan, count: count)
        try objective.values(of: points, rows: 0..<count, into: &values)
        objective.finish()
        #expect(values.indices.allSatisfy { values[$0] == points[$0, 0] })
    }

    /// A small deterministic generator for the fuzz cases (SplitMix64).
    struct SplitMix64 {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    }

    /// One answer as a command might write it: numbers in many spellings, padding, carriage
    /// returns, garbage and invalid UTF-8, and now and then a line near or over the limit.
    static func randomAnswer(_ random: inout SplitMix64) -> [UInt8] {
        let limit = CommandObjective.maximumAnswerBytes
        switch random.below(12) {
        case 0: return Array(" \(Double(bitPattern: random.next())) ".utf8)
        case 1: return Array(["nan", "inf", "-inf", "+1e308", "1e400", "-0", "0x1p-3", "1_0", "", " ", "1.5\r", "\t2\t"][random.below(12)].utf8)
        case 2: return (0..<random.below(40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }.filter { $0 != 10 }
        case 3 where random.below(4) == 0:
            // Padding around the limit (rare: slow in a debug build), so that a line crosses
            // the reader's 64 KiB reads.
            let padding = [70_000, limit - 2, limit - 1, limit][random.below(4)]
            return Array("7".utf8) + [UInt8](repeating: 32, count: padding)
        default: return Array("\(Double(random.below(2_000_000)) / 1000 - 1000)".utf8)
        }
    }

    /// What the objective must make of one answer line: its value, or the end of the message.
    static func expected(_ line: ArraySlice<UInt8>, point: Int) -> Result<Double, AdaptationError> {
        if line.count > CommandObjective.maximumAnswerBytes {
            return .failure(AdaptationError("wrote more than 1 MiB without a newline answering point \(point)"))
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = Double(text) else {
            return .failure(AdaptationError("answered '\(CommandObjective.printable(text.prefix(80)))' to point \(point), not a number"))
        }
        return .success(value.isFinite ? value : .infinity)
    }

    /// Seeded: 200 cases by default (each a process, about 20 ms), SPECTRAIN_FUZZ_CASES=20000
    /// for the long run.
    /// Each case is a command that writes a generated file of random answers at once (the last
    /// possibly without a newline), closes its output and reads its input to the end; the
    /// objective is evaluated until it fails. Every value must be the one its line spells, and
    /// every error the one its line calls for, in one line naming the command.
    @Test("random answer streams: each value as its line spells it, or one line naming the command")
    func fuzzAnswers() throws {
        let cases = ProcessInfo.processInfo.environment["SPECTRAIN_FUZZ_CASES"].flatMap { Int($0) } ?? 200
        let scratch = try Scratch()
        let file = scratch.path("answers")
        let command = ["/bin/sh", "-c", "cat \"$0\"; exec cat > /dev/null", file]
        var random = SplitMix64(state: 20_261_202)
        for index in 0..<cases {
            var answers = (0..<(1 + random.below(8))).map { _ in Self.randomAnswer(&random) }
            let unterminated = random.below(3) == 0
            if unterminated && answers.last?.isEmpty == true { answers[answers.count - 1] = Array("3".utf8) }
            var stream: [UInt8] = []
            for (position, answer) in answers.enumerated() {
                stream += answer
                if !(unterminated && position == answers.count - 1) { stream.append(10) }
            }
            try Data(stream).write(to: URL(fileURLWithPath: file))
            let objective = CommandObjective(command: command, dimension: 2, timeoutSeconds: 10)
            for point in 1...answers.count {
                let result = Self.evaluate(objective)
                if case .failure(let error) = result {
                    #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
                            && error.description.hasPrefix("objective command '/bin/sh -c "),
                            "case \(index): \(error.description)")
                }
                switch (result, Self.expected(answers[point - 1][...], point: point)) {
                case (.success(let value), .success(let wanted)):
                    #expect(value.bitPattern == wanted.bitPattern, "case \(index), point \(point): \(value), wanted \(wanted)")
                    continue
                case (.failure(let error), .failure(let wanted)):
                    let message: String = error.description
                    let ending: String = wanted.description
                    #expect(message.hasSuffix(ending), "case \(index), point \(point): \(message)")
                case (let got, let wanted):
                    Issue.record("case \(index), point \(point): got \(got), wanted \(wanted)")
                }
                break
            }
            objective.finish()
        }
    }
}
