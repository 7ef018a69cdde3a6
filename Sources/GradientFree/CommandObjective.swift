import Foundation
import Linalg
import Support
#if canImport(Glibc)
import Glibc
#endif

/// A user's function, computed by an external command that stays running: spectrain writes one
/// point per line (the coordinates as decimal numbers separated by spaces) to its standard input
/// and reads the value, one number per line, from its standard output. Its standard error passes
/// through. Under mpirun each rank starts its own copy, so the evaluations run in parallel.
/// With the batch protocol (`WireProtocol.batch`) every call sends its points in one message,
/// a line `batch <count>` and then one point per line, and reads `count` values back.
///
/// A value that is not finite (`nan`, `inf`) ranks as the worst possible. A line that is not a
/// number, or a command that exits, is an error naming the command. Each evaluation (writing the
/// point and reading the answer; with the batch protocol, the whole batch) must finish within
/// `timeoutSeconds`; an answer longer than `maximumAnswerBytes` is an error. A last value the
/// command writes without a newline and then closes its output (exits) counts as its answer:
/// closing the output ends the line. After an error the command is killed with its process
/// group, and it never outlives this process (see `CommandProcess`: evaluate from one thread
/// that lives as long as the objective).
package final class CommandObjective: ObjectiveFunction {
    /// How points and values travel between spectrain and the command.
    package enum WireProtocol: String, NamedChoice {
        /// One point per line, its value back on one line: a round trip per point.
        case point
        /// One message per call for all its points (a rank's share of an iteration): a line
        /// `batch <count>`, then `count` point lines; `count` value lines back, in order.
        case batch
    }

    /// The longest answer line read, newline aside: 1 MiB.
    package static let maximumAnswerBytes = 1 << 20

    package let dimension: Int
    /// The command as configured, for messages.
    package let command: [String]
    /// How long one evaluation may take; with the batch protocol, one batch.
    package let timeoutSeconds: Double
    /// Point by point, or in batches.
    package let wireProtocol: WireProtocol
    private var process: CommandProcess?
    private var evaluations = 0
    /// Batches sent so far (the batch protocol), for messages.
    private var batches = 0
    /// The message being built (a point's line, or a batch), kept so that its storage serves every call.
    private var message: [UInt8] = []
    /// The error that ended the command; every later evaluation throws it again.
    private var failure: AdaptationError?

    package init(command: [String], dimension: Int, timeoutSeconds: Double = 300, wireProtocol: WireProtocol = .point) {
        precondition(!command.isEmpty, "CommandObjective: empty command")
        precondition(timeoutSeconds > 0 && timeoutSeconds.isFinite, "CommandObjective: timeout \(timeoutSeconds)")
        self.command = command
        self.dimension = dimension
        self.timeoutSeconds = timeoutSeconds
        self.wireProtocol = wireProtocol
    }

    deinit { finish() }

    private var name: String { "objective command '\(Self.printable(command.joined(separator: " ")))'" }

    /// `text` with its control characters (a newline in an argument, a carriage return in an
    /// answer) escaped, so that a message stays one line.
    static func printable<Text: StringProtocol>(_ text: Text) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                result += scalar.escaped(asASCII: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The process id of the running command; nil before the first evaluation and once stopped.
    package var processID: pid_t? { process?.pid }

    package func value(_ point: UnsafeBufferPointer<Double>) throws -> Double {
        precondition(point.count == dimension, "CommandObjective.value: point of \(point.count) for dimension \(dimension)")
        return try endingOnFailure { () throws(AdaptationError) -> Double in
            switch wireProtocol {
            case .point:
                return try evaluate(point)
            case .batch:
                startBatch(count: 1)
                appendLine(point)
                var value = 0.0
                try exchangeBatch(count: 1) { _, answer in value = answer }
                return value
            }
        }
    }

    /// The rows' values: with the batch protocol in one message, otherwise point by point.
    package func values(of points: Matrix<Double>, rows: Range<Int>, into values: inout [Double]) throws {
        precondition(points.columns == dimension && rows.upperBound <= points.rows && rows.upperBound <= values.count,
                     "CommandObjective.values: rows \(rows) of a \(points.rows) x \(points.columns) matrix into \(values.count) values, dimension \(dimension)")
        let dimension = dimension
        guard wireProtocol == .batch else {
            try points.withUnsafeBufferPointer { elements in
                for row in rows {
                    values[row] = try value(UnsafeBufferPointer(rebasing: elements[(row * dimension)..<((row + 1) * dimension)]))
                }
            }
            return
        }
        guard !rows.isEmpty else { return }
        try endingOnFailure { () throws(AdaptationError) in
            startBatch(count: rows.count)
            points.withUnsafeBufferPointer { elements in
                for row in rows {
                    appendLine(UnsafeBufferPointer(rebasing: elements[(row * dimension)..<((row + 1) * dimension)]))
                }
            }
            try exchangeBatch(count: rows.count) { index, answer in values[rows.lowerBound + index] = answer }
        }
    }

    /// Runs `body`, and after an error stops the command and keeps the error, so that every
    /// later evaluation throws it again at once (the command is not restarted).
    private func endingOnFailure<Result>(_ body: () throws(AdaptationError) -> Result) throws(AdaptationError) -> Result {
        if let failure { throw failure }
        do {
            return try body()
        } catch {
            failure = error
            process?.stop(grace: .zero)
            process = nil
            throw error
        }
    }

    private func evaluate(_ point: UnsafeBufferPointer<Double>) throws(AdaptationError) -> Double {
        let process = try running()
        evaluations += 1
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        message.removeAll(keepingCapacity: true)
        appendLine(point)
        do {
            try process.write(message, by: deadline)
        } catch .inputClosed {
            throw AdaptationError("\(name): \(ended(process) ?? "stopped reading its input") before point \(evaluations)")
        } catch {
            throw problem(error, process, answering: "point \(evaluations)")
        }
        let read: CommandProcess.Line
        do {
            read = try process.readLine(by: deadline, maximumBytes: Self.maximumAnswerBytes)
        } catch {
            throw problem(error, process, answering: "point \(evaluations)")
        }
        let answer: String
        switch read {
        case .line(let text), .end(unterminated: let text?):
            answer = text
        case .end(unterminated: nil):
            throw AdaptationError("\(name): \(ended(process) ?? "closed its output") before answering point \(evaluations)")
        }
        return try number(answer, answering: "point \(self.evaluations)")
    }

    /// Empties the batch message and writes its header, `batch <count>`.
    private func startBatch(count: Int) {
        message.removeAll(keepingCapacity: true)
        message.append(contentsOf: "batch \(count)\n".utf8)
    }

    /// Appends `point` to the message as one line: 17 significant digits (exact for a double),
    /// separated by spaces; the one format of both protocols.
    private func appendLine(_ point: UnsafeBufferPointer<Double>) {
        for (index, coordinate) in point.enumerated() {
            if index > 0 { message.append(UInt8(ascii: " ")) }
            message.append(contentsOf: String(format: "%.17g", coordinate).utf8)
        }
        message.append(UInt8(ascii: "\n"))
    }

    /// Sends the batch message (`count` points) and reads `count` values, passing each with its
    /// index to `store`; the whole exchange must finish within `timeoutSeconds`.
    private func exchangeBatch(count: Int, store: (_ index: Int, _ value: Double) -> Void) throws(AdaptationError) {
        let process = try running()
        batches += 1
        let batch = batches
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        do {
            // Answers that come while the batch is still being written wait in memory (up to
            // 1 MiB), so that a command answering as it reads cannot deadlock with this one.
            try process.write(message, by: deadline, collectingOutputUpTo: Self.maximumAnswerBytes + 1)
        } catch .inputClosed {
            throw AdaptationError("\(name): \(ended(process) ?? "stopped reading its input") before reading all of batch \(batch) (\(count) points)")
        } catch {
            throw problem(error, process, answering: "point 1 of \(count) in batch \(batch)")
        }
        for index in 0..<count {
            let read: CommandProcess.Line
            do {
                read = try process.readLine(by: deadline, maximumBytes: Self.maximumAnswerBytes)
            } catch {
                throw problem(error, process, answering: "point \(index + 1) of \(count) in batch \(batch)")
            }
            let answer: String
            switch read {
            case .line(let text), .end(unterminated: let text?):
                answer = text
            case .end(unterminated: nil):
                throw AdaptationError("\(name): \(ended(process) ?? "closed its output") after answering \(index) of the \(count) points of batch \(batch)")
            }
            store(index, try number(answer, answering: "point \(index + 1) of \(count) in batch \(batch)"))
        }
    }

    /// The value an answer spells (blanks around it aside; not finite: infinity, the worst),
    /// or an error quoting it; `subject` names the point it answers.
    private func number(_ answer: String, answering subject: @autoclosure () -> String) throws(AdaptationError) -> Double {
        let text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = Double(text) else {
            throw AdaptationError("\(name): answered '\(Self.printable(text.prefix(80)))' to \(subject()), not a number")
        }
        return value.isFinite ? value : .infinity
    }

    /// The command, started on first use; a command that cannot start is an error.
    private func running() throws(AdaptationError) -> CommandProcess {
        if let process { return process }
        do {
            let started = try CommandProcess(command: command)
            process = started
            return started
        } catch {
            throw problem(error, nil, answering: "point 1")
        }
    }

    /// How the command ended ("exited with status 0", with a hint there), or nil if it is
    /// still running a second later.
    private func ended(_ process: CommandProcess) -> String? {
        guard let description = process.exitDescription(waitingUpTo: .seconds(1)) else { return nil }
        return description == "exited with status 0" ? description + " (it must keep running and answer every line)" : description
    }

    /// The message for `failure` while answering `subject` ("point 3", "point 2 of 5 in batch 4").
    private func problem(_ failure: CommandProcess.Failure, _ process: CommandProcess?, answering subject: String) -> AdaptationError {
        switch failure {
        case .timedOut:
            let partial = (process?.pendingBytes ?? 0) > 0 ? " (\(process?.pendingBytes ?? 0) bytes without a newline so far)" : ""
            let scope = wireProtocol == .batch ? " for the batch" : ""
            return AdaptationError("\(name): no answer to \(subject) within the timeout of \(String(format: "%g", timeoutSeconds)) s\(scope)\(partial); stopped it")
        case .lineTooLong:
            return AdaptationError("\(name): wrote more than \(Self.maximumAnswerBytes / (1 << 20)) MiB without a newline answering \(subject)")
        case .inputClosed:
            return AdaptationError("\(name): stopped reading its input before \(subject)")
        case .system(let text):
            return AdaptationError("\(name): \(text)")
        }
    }

    /// Closes the command's input (a well-behaved command then exits), gives it two seconds,
    /// and kills and reaps what is left of its process group.
    package func finish() {
        process?.stop(grace: .seconds(2))
        process = nil
    }
}
