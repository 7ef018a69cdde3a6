import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A user's function, computed by an external command that stays running: spectrain writes one
/// point per line (the coordinates as decimal numbers separated by spaces) to its standard input
/// and reads the value, one number per line, from its standard output. Its standard error passes
/// through. Under mpirun each rank starts its own copy, so the evaluations run in parallel.
///
/// A value that is not finite (`nan`, `inf`) ranks as the worst possible. A line that is not a
/// number, or a command that exits, is an error naming the command. Each evaluation (writing the
/// point and reading the answer) must finish within `timeoutSeconds`; an answer longer than
/// `maximumAnswerBytes` is an error. A last value the command writes without a newline and then
/// closes its output (exits) counts as its answer: closing the output ends the line. After an
/// error the command is killed with its process group, and it never outlives this process (see
/// `CommandProcess`: evaluate from one thread that lives as long as the objective).
public final class CommandObjective: ObjectiveFunction {
    /// The longest answer line read, newline aside: 1 MiB.
    public static let maximumAnswerBytes = 1 << 20

    public let dimension: Int
    /// The command as configured, for messages.
    public let command: [String]
    /// How long one evaluation may take.
    public let timeoutSeconds: Double
    private var process: CommandProcess?
    private var evaluations = 0
    /// The error that ended the command; every later evaluation throws it again.
    private var failure: AdaptationError?

    public init(command: [String], dimension: Int, timeoutSeconds: Double = 300) {
        precondition(!command.isEmpty, "CommandObjective: empty command")
        precondition(timeoutSeconds > 0 && timeoutSeconds.isFinite, "CommandObjective: timeout \(timeoutSeconds)")
        self.command = command
        self.dimension = dimension
        self.timeoutSeconds = timeoutSeconds
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
    public var processID: pid_t? { process?.pid }

    public func value(_ point: UnsafeBufferPointer<Double>) throws -> Double {
        precondition(point.count == dimension, "CommandObjective.value: point of \(point.count) for dimension \(dimension)")
        if let failure { throw failure }
        do {
            return try evaluate(point)
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
        let line = point.map { String(format: "%.17g", $0) }.joined(separator: " ") + "\n"
        do {
            try process.write(Array(line.utf8), by: deadline)
        } catch .inputClosed {
            throw AdaptationError("\(name): \(ended(process) ?? "stopped reading its input") before point \(evaluations)")
        } catch {
            throw problem(error, process)
        }
        let read: CommandProcess.Line
        do {
            read = try process.readLine(by: deadline, maximumBytes: Self.maximumAnswerBytes)
        } catch {
            throw problem(error, process)
        }
        let answer: String
        switch read {
        case .line(let text), .end(unterminated: let text?):
            answer = text
        case .end(unterminated: nil):
            throw AdaptationError("\(name): \(ended(process) ?? "closed its output") before answering point \(evaluations)")
        }
        let text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = Double(text) else {
            throw AdaptationError("\(name): answered '\(Self.printable(text.prefix(80)))' to point \(evaluations), not a number")
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
            throw problem(error, nil)
        }
    }

    /// How the command ended ("exited with status 0", with a hint there), or nil if it is
    /// still running a second later.
    private func ended(_ process: CommandProcess) -> String? {
        guard let description = process.exitDescription(waitingUpTo: .seconds(1)) else { return nil }
        return description == "exited with status 0" ? description + " (it must keep running and answer every line)" : description
    }

    private func problem(_ failure: CommandProcess.Failure, _ process: CommandProcess?) -> AdaptationError {
        switch failure {
        case .timedOut:
            let partial = (process?.pendingBytes ?? 0) > 0 ? " (\(process?.pendingBytes ?? 0) bytes without a newline so far)" : ""
            return AdaptationError("\(name): no answer to point \(evaluations) within the timeout of \(String(format: "%g", timeoutSeconds)) s\(partial); stopped it")
        case .lineTooLong:
            return AdaptationError("\(name): wrote more than \(Self.maximumAnswerBytes / (1 << 20)) MiB without a newline answering point \(evaluations)")
        case .inputClosed:
            return AdaptationError("\(name): stopped reading its input before point \(evaluations)")
        case .system(let text):
            return AdaptationError("\(name): \(text)")
        }
    }

    /// Closes the command's input (a well-behaved command then exits), gives it two seconds,
    /// and kills and reaps what is left of its process group.
    public func finish() {
        process?.stop(grace: .seconds(2))
        process = nil
    }
}
