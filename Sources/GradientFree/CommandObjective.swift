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
/// number, or a command that exits, is an error naming the command.
public final class CommandObjective: ObjectiveFunction {
    public let dimension: Int
    /// The command as configured, for messages.
    public let command: [String]
    private var process: Process?
    private var input: FileHandle?
    private var output: Int32 = -1
    private var buffer: [UInt8] = []
    private var evaluations = 0

    public init(command: [String], dimension: Int) {
        precondition(!command.isEmpty, "CommandObjective: empty command")
        self.command = command
        self.dimension = dimension
    }

    deinit { finish() }

    private var name: String { "objective command '\(command.joined(separator: " "))'" }

    /// Starts the command on first use; a command that cannot start is an error.
    private func start() throws {
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let toCommand = Pipe()
        let fromCommand = Pipe()
        process.standardInput = toCommand
        process.standardOutput = fromCommand
        do {
            try process.run()
        } catch {
            throw AdaptationError("\(name): cannot start (\(error.localizedDescription))")
        }
        self.process = process
        input = toCommand.fileHandleForWriting
        output = fromCommand.fileHandleForReading.fileDescriptor
    }

    public func value(_ point: UnsafeBufferPointer<Double>) throws -> Double {
        precondition(point.count == dimension, "CommandObjective.value: point of \(point.count) for dimension \(dimension)")
        if process == nil { try start() }
        evaluations += 1
        let line = point.map { String(format: "%.17g", $0) }.joined(separator: " ") + "\n"
        do {
            try input!.write(contentsOf: Data(line.utf8))
        } catch {
            throw AdaptationError("\(name): \(exitDescription() ?? "stopped reading") before point \(evaluations)")
        }
        guard let answer = try readLine() else {
            throw AdaptationError("\(name): \(exitDescription() ?? "closed its output") before answering point \(evaluations)")
        }
        let text = answer.trimmingCharacters(in: .whitespaces)
        guard let value = Double(text) else {
            throw AdaptationError("\(name): answered '\(text.prefix(80))' to point \(evaluations), not a number")
        }
        return value.isFinite ? value : .infinity
    }

    /// The next line of the command's output, or nil at its end.
    private func readLine() throws -> String? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw AdaptationError("\(name): reading its output failed (errno \(errno))")
            }
            if count == 0 { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    /// "exited with status N" once the command has ended (waiting up to a second), else nil.
    private func exitDescription() -> String? {
        guard let process else { return nil }
        for _ in 0..<100 where process.isRunning { usleep(10_000) }
        if process.isRunning { return nil }
        let status = process.terminationStatus
        return "exited with status \(status)" + (status == 127 ? " (program not found?)" : "")
    }

    /// Closes the command's input (a well-behaved command then exits) and reaps it.
    public func finish() {
        guard let process else { return }
        try? input?.close()
        input = nil
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        self.process = nil
    }
}
