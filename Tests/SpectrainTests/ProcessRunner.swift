import Foundation

/// Runs the built `spectrain` executable, directly or under mpirun, as a user would, and
/// captures its exit status, output and duration.
enum ProcessRunner {
    struct Result {
        var status: Int32
        var output: String
        var errorOutput: String
        var seconds: Double
        /// Both streams, for assertions that do not care where a line went.
        var allOutput: String { output + errorOutput }
    }

    /// The executable built next to this test bundle (or `SPECTRAIN_BIN`).
    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["SPECTRAIN_BIN"] { return path }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        // The test binary lives in .../debug/spectrainPackageTests.xctest (a file on Linux).
        while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("spectrain").path),
              directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("spectrain").path
    }

    /// The environment for a child: this process's, without the variables an MPI launcher or
    /// MPI_Init left here (a child mpirun that inherits them exits 1 without a word).
    static func childEnvironment(_ extra: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("OMPI_") && !key.hasPrefix("PMIX_") && !key.hasPrefix("OPAL_")
                && !key.hasPrefix("SPECTRAIN_") && key != "OPENBLAS_NUM_THREADS"
        }
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// mpirun's options for `ranks` processes on this machine (root and oversubscription allowed).
    static func mpirunArguments(ranks: Int) -> [String] {
        var arguments = ["mpirun", "-np", "\(ranks)", "--oversubscribe"]
        if getuid() == 0 { arguments.append("--allow-run-as-root") }
        return arguments
    }

    /// Runs `spectrain arguments...` on `ranks` ranks (`ranks == nil`: started directly), stopped
    /// after `timeout` seconds.
    static func run(
        _ arguments: [String], ranks: Int? = nil, timeout: Int = 120, environment: [String: String] = [:]
    ) throws -> Result {
        let launcher = ranks.map(mpirunArguments(ranks:)) ?? []
        return try execute(["timeout", "--kill-after=10", "\(timeout)"] + launcher + [executable] + arguments, environment: environment)
    }

    /// Runs a bash script, stopped after `timeout` seconds. The script sees `$SPECTRAIN`, the
    /// executable, and a function `mpirun_np N ARGS...` that runs mpirun with this machine's flags.
    static func runScript(_ script: String, timeout: Int = 120) throws -> Result {
        let mpirun = mpirunArguments(ranks: 0).filter { $0 != "-np" && $0 != "0" }.joined(separator: " ")
        let prelude = "SPECTRAIN=\(executable); mpirun_np() { \(mpirun) -np \"$@\"; }; "
        return try execute(["timeout", "--kill-after=10", "\(timeout)", "bash", "-c", prelude + script], environment: [:])
    }

    private static func execute(_ command: [String], environment: [String: String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.environment = childEnvironment(environment)
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("spectrain-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outputURL = directory.appendingPathComponent("stdout")
        let errorURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let outputHandle = try FileHandle(forWritingTo: outputURL)
        let errorHandle = try FileHandle(forWritingTo: errorURL)
        process.standardOutput = outputHandle
        process.standardError = errorHandle
        let start = Date()
        try process.run()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        try outputHandle.close()
        try errorHandle.close()
        return Result(
            status: process.terminationStatus,
            output: try String(contentsOf: outputURL, encoding: .utf8),
            errorOutput: try String(contentsOf: errorURL, encoding: .utf8),
            seconds: seconds)
    }
}
