import Foundation
import Glibc
import Support

/// `metrics.jsonl` read line by line from its bytes, so that a damaged line (invalid UTF-8, not
/// JSON, cut short by a full disk or a killed process) is kept as it is with its number instead
/// of hiding or rejecting the rest of the log. The one reader of the file: resume and branch cut
/// it by step, `plot` draws its records.
package struct MetricsLog: Sendable {
    /// One line of the log, with its bytes exactly as in the file.
    package struct Line: Sendable, Equatable {
        /// 1-based line number in the file.
        package var number: Int
        /// The line's bytes without its newline.
        package var bytes: Data
        /// Whether a newline ends the line; only the last line of a file can lack one, when its
        /// write was cut short (full disk, killed process).
        package var isComplete: Bool
        package var content: Content

        /// The line as it was in the file: its bytes and, when complete, its newline.
        package var written: Data {
            isComplete ? bytes + [UInt8(ascii: "\n")] : bytes
        }

        /// The line's integer "step", when it has one (a record or a step-only line).
        package var step: Int? {
            switch content {
            case .record(let record): record.step
            case .stepOnly(let step, _): step
            case .blank, .unreadable, .partial: nil
            }
        }
    }

    /// What a line holds.
    package enum Content: Sendable, Equatable {
        /// Only spaces, tabs or carriage returns.
        case blank
        case record(MetricsRecord)
        /// A JSON object with an integer "step" that is not a whole metrics record (a field
        /// missing or of the wrong type); `problem` says why.
        case stepOnly(step: Int, problem: String)
        /// Not UTF-8, not a JSON object, or without an integer "step"; `problem` says why.
        case unreadable(problem: String)
        /// The last line, without a newline: its write did not finish. Not decoded.
        case partial
    }

    /// The largest metrics file read, in bytes: a million lines of 500 bytes, more than a run
    /// logging every step for a million steps writes, and small enough to hold in memory.
    package static let maxBytes = 1 << 29
    /// The most lines a metrics file read may have: each read line takes a few hundred bytes
    /// of memory, so a file of newlines within `maxBytes` must not be read whole.
    package static let maxLines = 1 << 21

    /// The file the log was read from, for messages.
    package var path: String
    package var lines: [Line]

    /// Splits `bytes` on newlines and decodes each line on its own; never fails.
    package init(path: String, bytes: Data) {
        self.path = path
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = NonFiniteJSON.decoding
        var segments = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // The segment after the last newline: empty when the file ends with one, else a line cut short.
        let tail = segments.popLast() ?? Data()
        var lines: [Line] = []
        lines.reserveCapacity(segments.count + 1)
        for segment in segments {
            lines.append(Line(number: lines.count + 1, bytes: segment, isComplete: true, content: Self.content(of: segment, decoder: decoder)))
        }
        if !tail.isEmpty {
            let content: Content = Self.isBlank(tail) ? .blank : .partial
            lines.append(Line(number: lines.count + 1, bytes: tail, isComplete: false, content: content))
        }
        self.lines = lines
    }

    /// Reads the metrics file at `path`. Refuses, with one line naming the file, anything but a
    /// regular file (a FIFO would block) and a file larger than `maxBytes` or `maxLines`.
    package static func read(_ path: String, maxBytes: Int = maxBytes, maxLines: Int = maxLines) throws(TrainError) -> MetricsLog {
        let bytes = try readBytes(path, maxBytes: maxBytes)
        let partialLine = bytes.last.map { $0 == UInt8(ascii: "\n") ? 0 : 1 } ?? 0
        guard newlineCount(bytes, upTo: min(maxLines, Int.max - 1) + 1) + partialLine <= maxLines else {
            throw TrainError("\(path): more than the \(maxLines) lines a metrics file may have")
        }
        return MetricsLog(path: path, bytes: bytes)
    }

    /// The number of newlines in `bytes`, counting stops at `limit`.
    static func newlineCount(_ bytes: Data, upTo limit: Int) -> Int {
        bytes.withUnsafeBytes { buffer in
            guard var cursor = buffer.baseAddress else { return 0 }
            var remaining = buffer.count
            var count = 0
            while count < limit, remaining > 0, let found = memchr(cursor, 0x0A, remaining) {
                count += 1
                let skipped = UnsafeRawPointer(found) - cursor + 1
                cursor += skipped
                remaining -= skipped
            }
            return count
        }
    }

    /// The log cut at a checkpoint after step `step`: the readable lines with a step up to it, in
    /// their order, and every other non-blank line (a later step, unreadable, cut short) aside.
    package func cut(atStep step: Int) -> Cut {
        var cut = Cut(step: step)
        for line in lines {
            switch line.content {
            case .blank:
                continue
            case .partial:
                cut.superseded.append(line)
                cut.cutShort += 1
            case .unreadable(let problem):
                cut.superseded.append(line)
                if cut.unreadable == 0 { cut.firstProblem = "line \(line.number): \(problem)" }
                cut.unreadable += 1
            case .record, .stepOnly:
                if let lineStep = line.step, lineStep <= step {
                    cut.kept.append(line)
                } else {
                    cut.superseded.append(line)
                    cut.later += 1
                }
            }
        }
        return cut
    }

    /// A log split at a checkpoint's step: the lines the continuing run keeps and those set
    /// aside, with how many of each kind were set aside.
    package struct Cut: Sendable {
        package var step: Int
        package var kept: [Line] = []
        package var superseded: [Line] = []
        /// Set-aside lines with a step after `step`.
        package var later = 0
        package var unreadable = 0
        /// The first unreadable line's number and problem.
        package var firstProblem: String?
        /// A last line without a newline (0 or 1).
        package var cutShort = 0

        /// What was set aside and why, e.g. "3 logged after step 20, 1 unreadable (line 7: not
        /// UTF-8 (byte 0xFF at column 12)), 1 cut short at the end of the file".
        package var supersededReasons: String {
            var reasons: [String] = []
            if later > 0 { reasons.append("\(later) logged after step \(step)") }
            if unreadable > 0 { reasons.append("\(unreadable) unreadable (\(firstProblem ?? ""))") }
            if cutShort > 0 { reasons.append("\(cutShort) cut short at the end of the file (its write did not finish)") }
            return reasons.joined(separator: ", ")
        }

        /// The bytes of a file holding `lines`, each as it was written.
        package static func bytes(of lines: [Line]) -> Data {
            var data = Data()
            for line in lines { data.append(line.written) }
            return data
        }
    }

    // MARK: - Reading one line

    private struct StepField: Decodable {
        var step: Int
    }

    static func isBlank(_ bytes: Data) -> Bool {
        bytes.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
    }

    static func content(of bytes: Data, decoder: JSONDecoder) -> Content {
        if isBlank(bytes) { return .blank }
        if let (column, byte) = firstInvalidUTF8(in: bytes) {
            return .unreadable(problem: "not UTF-8 (byte 0x\(String(format: "%02X", byte)) at column \(column))")
        }
        // Foundation's JSONDecoder traps when the 513th nested '[' is the input's last byte
        // (swift 6.3, JSONError.SourceLocation past the end): a trailing space, which JSON
        // ignores, keeps every error location inside the input.
        let padded = bytes + [UInt8(ascii: " ")]
        let step: Int
        do {
            step = try decoder.decode(StepField.self, from: padded).step
        } catch let error as DecodingError {
            if case .keyNotFound = error { return .unreadable(problem: Untrusted.oneLine(ConfigurationFile.describe(error))) }
            // The decoder says "not valid JSON" also for a step of 1.5: tell the two apart.
            guard let object = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) else {
                return .unreadable(problem: "not valid JSON")
            }
            guard let fields = object as? [String: Any] else { return .unreadable(problem: "not a JSON object") }
            return .unreadable(problem: fields["step"] == nil ? "missing field 'step'" : "field 'step': expected an integer")
        } catch {
            return .unreadable(problem: "not valid JSON")
        }
        do {
            return .record(try decoder.decode(MetricsRecord.self, from: padded))
        } catch let error as DecodingError {
            return .stepOnly(step: step, problem: "not a metrics record (\(Untrusted.oneLine(ConfigurationFile.describe(error))))")
        } catch {
            return .stepOnly(step: step, problem: "not a metrics record")
        }
    }

    /// The 1-based column and value of the first byte that is not valid UTF-8, or nil.
    static func firstInvalidUTF8(in bytes: Data) -> (column: Int, byte: UInt8)? {
        if bytes.allSatisfy({ $0 < 0x80 }) { return nil }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return (offset + 1, bytes.dropFirst(offset).first ?? 0)
            }
        }
    }

    // MARK: - Reading the file

    /// The file's bytes, read through `RegularFile` (never blocking, bounded by `maxBytes` before
    /// allocating); the file may grow while read (a run still logging), up to `maxBytes`.
    static func readBytes(_ path: String, maxBytes: Int) throws(TrainError) -> Data {
        do {
            return Data(try RegularFile.read(path, limit: maxBytes, mayGrow: true) { "is \($0) bytes, more than the \(maxBytes) a metrics file may hold" })
        } catch {
            throw TrainError(error.description)
        }
    }
}
