import Foundation
import Linalg
import Optim
import Support
import Testing
@testable import Train

/// The metrics reader and the cut at a checkpoint's step: fuzzed with random and damaged logs
/// (nothing lost, no trap), and the resume regressions of issue 10.
@Suite("MetricsLog")
struct MetricsLogTests {
    /// Random files; half as many damaged logs (each costs more). SPECTRAIN_FUZZ_CASES=100000 for the long run.
    static let fuzzCases = ProcessInfo.processInfo.environment["SPECTRAIN_FUZZ_CASES"].flatMap { Int($0) } ?? 3000

    @Test("random bytes: never a trap, every line accounted for, the kept lines readable and at most the step")
    func randomBytes() {
        var generator = SeededGenerator(seed: 0x6D65_7472_6963_7331)
        let alphabet = Array(#"{}[]":,0123456789 stepnaif-."#.utf8) + [0x0A, 0x0A, 0x0D, 0xFF, 0xC3, 0x80, 0x00]
        for index in 0..<Self.fuzzCases {
            let length = Int(generator.next() % 300)
            let bytes = Data((0..<length).map { _ in
                generator.next() % 4 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : alphabet[Int(generator.next() % UInt64(alphabet.count))]
            })
            checkCut(bytes, step: Int(generator.next() % 40) - 5, label: "random case \(index)")
        }
    }

    @Test("valid logs with random damage: intact record lines are read as their records, and nothing is lost")
    func damagedLogs() throws {
        var generator = SeededGenerator(seed: 0x6D65_7472_6963_7332)
        // Encoded once: four variants of a record at each step 10, 20, ..., 80.
        let pool = try (1...8).map { index in
            try (0..<4).map { _ in
                let value = record(step: 10 * index, generator: &generator)
                return (record: value, line: try encode(value))
            }
        }
        let originals = Dictionary(pool.flatMap { $0.map { (Array($0.line.dropLast()), $0.record) } }, uniquingKeysWith: { first, _ in first })
        for index in 0..<Self.fuzzCases / 2 {
            let count = 1 + Int(generator.next() % 8)
            var lines = (0..<count).map { pool[$0][Int(generator.next() % 4)].line }
            for _ in 0..<Int(generator.next() % 4) {
                mutate(&lines, generator: &generator)
            }
            var bytes = Data(lines.flatMap { $0 })
            if generator.next() % 5 == 0 && !bytes.isEmpty {
                bytes = bytes.prefix(Int(generator.next() % UInt64(bytes.count)))
            }
            let log = checkCut(bytes, step: 10 * Int(generator.next() % UInt64(count + 2)), label: "damaged case \(index)")
            for line in log.lines where line.isComplete {
                guard let original = originals[[UInt8](line.bytes)] else { continue }
                guard case .record(let read) = line.content else {
                    Issue.record("damaged case \(index): intact line \(line.number) read as \(line.content)")
                    continue
                }
                // NaN is unequal to itself: compare a NaN loss as 0 on both sides.
                var (readBack, expected) = (read, original)
                if read.loss.isNaN && original.loss.isNaN { (readBack.loss, expected.loss) = (0, 0) }
                if readBack != expected { Issue.record("damaged case \(index): line \(line.number) read as another record") }
            }
        }
    }

    /// Cuts the log `bytes` holds at `step` and checks what must hold for any input; returns the
    /// log. (Plain checks, one issue per failure: `#expect` per check would dominate the run time.)
    @discardableResult
    func checkCut(_ bytes: Data, step: Int, label: String) -> MetricsLog {
        func check(_ holds: Bool, _ what: @autoclosure () -> String) {
            if !holds { Issue.record("\(label): \(what())") }
        }
        let log = MetricsLog(path: "/runs/x/metrics.jsonl", bytes: bytes)
        // The lines are the file: their bytes and newlines, in order, give it back.
        check(MetricsLog.Cut.bytes(of: log.lines) == bytes, "the lines do not rebuild the file")
        check(log.lines.enumerated().allSatisfy { $0.offset + 1 == $0.element.number }, "line numbers")
        check(log.lines.dropLast().allSatisfy { $0.isComplete }, "only the last line may be cut short")
        let cut = log.cut(atStep: step)
        // Nothing lost: kept, set aside and blank lines are all the lines, each once.
        let blank = log.lines.filter { $0.content == .blank }
        let numbers = (cut.kept + cut.superseded + blank).map(\.number).sorted()
        check(numbers == log.lines.map(\.number), "a line was lost or doubled")
        check(blank.allSatisfy { MetricsLog.isBlank($0.bytes) }, "a line with content counted as blank")
        check(MetricsLog.Cut.bytes(of: cut.kept).count + MetricsLog.Cut.bytes(of: cut.superseded).count
              + MetricsLog.Cut.bytes(of: blank).count == bytes.count, "bytes lost")
        check(cut.kept.allSatisfy { ($0.step ?? .max) <= step && $0.isComplete }, "kept a line past step \(step)")
        check(cut.superseded.count == cut.later + cut.unreadable + cut.cutShort, "the reasons do not add up")
        check(!cut.supersededReasons.contains("\n"), "reasons on several lines: \(cut.supersededReasons)")
        for line in log.lines {
            switch line.content {
            case .unreadable(let problem), .stepOnly(_, let problem):
                check(!problem.isEmpty && !problem.contains("\n") && !problem.contains("\r"), "problem \(problem.debugDescription)")
            default:
                break
            }
        }
        // The kept file, read again, is all readable and a second cut keeps all of it.
        let again = MetricsLog(path: "/runs/x/metrics.jsonl", bytes: MetricsLog.Cut.bytes(of: cut.kept)).cut(atStep: step)
        check(again.superseded.isEmpty && again.kept.map(\.bytes) == cut.kept.map(\.bytes), "the kept file does not read back")
        return log
    }

    /// One of: an invalid UTF-8 byte inserted, a garbage line, a line duplicated, two lines
    /// swapped, a number replaced by a huge one or by NaN, a newline removed, deep nesting.
    func mutate(_ lines: inout [[UInt8]], generator: inout SeededGenerator) {
        guard !lines.isEmpty else { return }
        let target = Int(generator.next() % UInt64(lines.count))
        // A line emptied by an earlier mutation ("\n" without its newline) has one position, 0.
        func position(_ line: [UInt8]) -> Int { Int(generator.next() % UInt64(line.count + 1)) }
        switch generator.next() % 9 {
        case 0:
            let bytes: [UInt8] = [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80]][Int(generator.next() % 5)]
            lines[target].insert(contentsOf: bytes, at: position(lines[target]))
        case 1:
            let garbage = ["garbage\n", "{\n", "[1,2]\n", "\"step\"\n", "{\"step\": \"7\"}\n", "{\"step\": 15}\n", "  \t\r\n", "\n"]
            lines.insert(Array(garbage[Int(generator.next() % UInt64(garbage.count))].utf8), at: target)
        case 2:
            lines.insert(lines[target], at: Int(generator.next() % UInt64(lines.count + 1)))
        case 3:
            lines.swapAt(target, Int(generator.next() % UInt64(lines.count)))
        case 4, 5:
            let text = String(decoding: lines[target], as: UTF8.self)
            let replacement = ["1e400", "-1e400", "99999999999999999999999", "nan", "\"nan\"", "\"inf\"", "-0", "9223372036854775808", "null", "1.5"][Int(generator.next() % 10)]
            let key = ["\"step\":", "\"loss\":", "\"epoch\":", "\"skippedSteps\":"][Int(generator.next() % 4)]
            if let range = text.range(of: key), let end = text[range.upperBound...].firstIndex(where: { $0 == "," || $0 == "}" }) {
                lines[target] = Array((text[..<range.upperBound] + replacement + text[end...]).utf8)
            }
        case 6:
            if lines[target].last == UInt8(ascii: "\n") { lines[target].removeLast() }
        case 7:
            let depth = generator.next() % 2 == 0 ? 510 + Int(generator.next() % 6) : 1 + Int(generator.next() % 5000)
            lines.insert(Array(String(repeating: "[", count: depth).utf8) + [0x0A], at: target)
        default:
            lines[target].insert(UInt8(ascii: "\r"), at: max(lines[target].count - 1, 0))
        }
    }

    // MARK: - Lines

    @Test("a last line without a newline is partial and not decoded; a file ending in a newline has none")
    func partialLastLine() throws {
        let lines = try (1...3).map { try encode(record(step: $0)) }
        let whole = MetricsLog(path: "m", bytes: Data(lines.flatMap { $0 }))
        #expect(whole.lines.count == 3 && whole.lines.allSatisfy { $0.isComplete })
        let cutShort = MetricsLog(path: "m", bytes: Data(lines.flatMap { $0 }.dropLast(7)))
        #expect(cutShort.lines.map { $0.content.isRecord } == [true, true, false])
        #expect(cutShort.lines[2].content == .partial && !cutShort.lines[2].isComplete)
        // Even a complete record without its newline: its write may have stopped at the newline.
        let noNewline = MetricsLog(path: "m", bytes: Data(lines.flatMap { $0 }.dropLast()))
        #expect(noNewline.lines[2].content == .partial)
    }

    @Test("each unreadable line says why, in one line, and the lines around it are read")
    func problems() throws {
        let good = try encode(record(step: 1))
        func problem(_ line: [UInt8]) -> String? {
            let log = MetricsLog(path: "m", bytes: Data(good + line + [0x0A] + good))
            #expect(log.lines.count == 3 && log.lines[0].content.isRecord && log.lines[2].content.isRecord)
            switch log.lines[1].content {
            case .unreadable(let problem), .stepOnly(_, let problem): return problem
            default: return nil
            }
        }
        #expect(problem(Array(#"{"step": 5, "x": "a"#.utf8) + [0xFF] + Array(#""}"#.utf8)) == "not UTF-8 (byte 0xFF at column 20)")
        #expect(problem(Array("{\"step\": 5, \"loss\":".utf8)) == "not valid JSON")
        #expect(problem(Array("[1, 2]".utf8)) == "not a JSON object")
        #expect(problem(Array("{\"loss\": 1}".utf8)) == "missing field 'step'")
        #expect(problem(Array("{\"step\": 1.5}".utf8)) == "field 'step': expected an integer")
        #expect(problem(Array("{\"step\": \"7\"}".utf8)) == "field 'step': expected an integer")
        #expect(problem(Array("{\"step\": 99999999999999999999999}".utf8)) == "field 'step': expected an integer")
        #expect(problem(Array("\"step\"".utf8)) == "not a JSON object")
        #expect(problem(Array("{\"step\": 300}".utf8)) == "not a metrics record (missing field 'epoch')")
        // Nesting that ends at the decoder's depth limit on the last byte (a Foundation trap).
        #expect(problem(Array(String(repeating: "[", count: 513).utf8)) == "not valid JSON")
        #expect(problem(Array(("{\"step\":" + String(repeating: "[", count: 512)).utf8)) == "not valid JSON")
        // A field name from the file with a newline in it is escaped, not printed.
        let health = #"{"step": 3, "epoch": 1, "loss": 1, "accuracy": 1, "learningRate": 1, "samplesPerSecond": 1, "elapsedSeconds": 1, "time": {}, "skippedSteps": 0, "health": {"a\nb": 1}}"#
        let described = try #require(problem(Array(health.utf8)))
        #expect(!described.contains("\n") && described.hasPrefix("not a metrics record (field 'health.a\\nb'"), "\(described)")
    }

    @Test("\"nan\" and \"inf\" strings read as non-finite numbers")
    func nonFinite() throws {
        var value = record(step: 4)
        value.loss = .nan
        value.testLoss = .infinity
        let log = MetricsLog(path: "m", bytes: Data(try encode(value)))
        guard case .record(let read) = log.lines.first?.content else {
            Issue.record("not a record: \(String(describing: log.lines.first))")
            return
        }
        #expect(read.loss.isNaN && read.testLoss == .infinity && read.step == 4)
    }

    @Test("the cut is by step, not by line count: duplicates and out-of-order lines up to the step stay in order")
    func cutByStep() throws {
        let steps = [10, 20, 30, 20, 5, 40, 20]
        let lines = try steps.map { try encode(record(step: $0)) }
        let cut = MetricsLog(path: "m", bytes: Data(lines.flatMap { $0 })).cut(atStep: 20)
        #expect(cut.kept.map(\.number) == [1, 2, 4, 5, 7])
        #expect(cut.superseded.map(\.number) == [3, 6])
        #expect(cut.supersededReasons == "2 logged after step 20")
    }

    // MARK: - Reading the file

    @Test("a missing file, a folder, a FIFO and a file over the size or line limit are one-line errors naming the path")
    func readRefusals() throws {
        let folder = try ScratchFolder()
        let missing = folder.path + "/metrics.jsonl"
        #expect(readError(missing) == "\(missing): does not exist")
        #expect(readError(folder.path) == "\(folder.path): is a folder, not a regular file")
        let fifo = folder.path + "/fifo.jsonl"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(readError(fifo) == "\(fifo): is a FIFO (named pipe), not a regular file")
        try Data(try encode(record(step: 1))).write(to: URL(fileURLWithPath: missing))
        #expect(readError(missing, maxBytes: 100)?.hasPrefix("\(missing): ") == true)
        #expect(readError(missing, maxBytes: 100)?.contains("more than the 100") == true)
        #expect(try MetricsLog.read(missing).lines.count == 1)
        try Data(repeating: 0x0A, count: 1000).write(to: URL(fileURLWithPath: missing))
        #expect(readError(missing, maxLines: 999) == "\(missing): more than the 999 lines a metrics file may have")
        #expect(try MetricsLog.read(missing, maxLines: 1000).lines.count == 1000)
        try Data(repeating: 0x0A, count: 999).write(to: URL(fileURLWithPath: missing))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: missing))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{".utf8))
        try handle.close()
        #expect(readError(missing, maxLines: 999)?.hasSuffix("more than the 999 lines a metrics file may have") == true)
    }

    func readError(_ path: String, maxBytes: Int = MetricsLog.maxBytes, maxLines: Int = MetricsLog.maxLines) -> String? {
        do {
            _ = try MetricsLog.read(path, maxBytes: maxBytes, maxLines: maxLines)
            return nil
        } catch {
            #expect(!error.message.contains("\n"))
            return error.message
        }
    }

    // MARK: - Resume and branch

    @Test("resume with an invalid UTF-8 byte mid-file and a partial last line: every readable line up to the step kept, the rest set aside byte for byte")
    func resumeKeepsEveryLine() throws {
        let folder = try ScratchFolder()
        var lines = try (1...45).map { try encode(record(step: $0)) }
        lines[9].insert(0xFF, at: 20)
        let partial = Array(try encode(record(step: 46)).prefix(30))
        let original = Data(lines.flatMap { $0 } + partial)
        try original.write(to: URL(fileURLWithPath: folder.path + "/metrics.jsonl"))
        let config = TrainConfig(name: "m", model: ModelConfig(layers: [.relu]), optimizer: OptimizerConfig(type: .adamw))
        let report = try RunFolder.continueMetrics(folder: folder.path, step: 20, config: config)
        let aside = folder.path + "/metrics-superseded-at-step-20.jsonl"
        #expect(report.first == "kept 27 metrics lines aside in \(aside): 25 logged after step 20, 1 unreadable (line 10: not UTF-8 (byte 0xFF at column 21)), 1 cut short at the end of the file (its write did not finish)")
        let kept = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/metrics.jsonl"))
        #expect(kept == Data((lines[0..<9] + lines[10..<20]).flatMap { $0 }))
        let superseded = try Data(contentsOf: URL(fileURLWithPath: aside))
        #expect(superseded == Data(lines[9] + lines[20...].flatMap { $0 } + partial))
        #expect(kept.count + superseded.count == original.count)

        // Resuming again from the same checkpoint sets nothing more aside.
        #expect(try RunFolder.continueMetrics(folder: folder.path, step: 20, config: config).isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path + "/metrics.jsonl")) == kept)
    }

    @Test("a branch copies the source's metrics byte for byte and leaves the source as it is")
    func branchCopies() throws {
        let folder = try ScratchFolder()
        let source = folder.path + "/a"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        var bytes = Data(try (1...5).flatMap { try encode(record(step: $0)) })
        bytes.append(contentsOf: [0xFF, 0x0A, 0x7B])
        try bytes.write(to: URL(fileURLWithPath: source + "/metrics.jsonl"))
        let config = TrainConfig(name: "b", model: ModelConfig(layers: [.relu]), optimizer: OptimizerConfig(type: .adamw))
        try RunFolder.startBranch(folder: folder.path + "/b", from: source, config: config, overwrite: false)
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path + "/b/metrics.jsonl")) == bytes)
        let report = try RunFolder.continueMetrics(folder: folder.path + "/b", step: 3, config: config)
        #expect(report == ["kept 4 metrics lines aside in \(folder.path)/b/metrics-superseded-at-step-3.jsonl: 2 logged after step 3, 1 unreadable (line 6: not UTF-8 (byte 0xFF at column 1)), 1 cut short at the end of the file (its write did not finish)"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: source + "/metrics.jsonl")) == bytes)
    }

    // MARK: - Helpers

    func record(step: Int) -> MetricsRecord {
        var generator = SeededGenerator(seed: UInt64(step))
        return record(step: step, generator: &generator)
    }

    func record(step: Int, generator: inout SeededGenerator) -> MetricsRecord {
        func unit() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }
        var time = StepTimes()
        time.forward = unit()
        let tested = generator.next() % 3 == 0
        let health = generator.next() % 4 == 0 ? ["1_linear.weight/block0.L": FactorHealthRecord(
            orthogonalityError: unit() * 1e-6, minEigenvalue: 0, maxEigenvalue: unit(), conditionNumber: .infinity, failures: 1)] : nil
        return MetricsRecord(
            step: step, epoch: Double(step) / 7, loss: generator.next() % 10 == 0 ? .nan : unit() * 3, accuracy: unit(),
            learningRate: 1e-3, samplesPerSecond: 5000 * unit(), elapsedSeconds: Double(step) * unit(), time: time,
            testLoss: tested ? unit() : nil, testAccuracy: tested ? unit() : nil, skippedSteps: Int(generator.next() % 3), health: health)
    }

    /// A record as `MetricsWriter` writes it, newline included.
    func encode(_ record: MetricsRecord) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = NonFiniteJSON.encoding
        return Array(try encoder.encode(record)) + [0x0A]
    }
}

extension MetricsLog.Content {
    var isRecord: Bool {
        if case .record = self { return true }
        return false
    }
}

/// A fresh temporary folder, removed when the value is released.
private final class ScratchFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
