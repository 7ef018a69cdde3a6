import ArgumentParser
import Cluster
import Foundation
import Linalg
import Train

/// The job as this process sees it: where this rank stands before MPI starts, console output that does not
/// interleave across ranks, and the exit paths.
enum Job {
    /// The rank the launcher assigned, known before MPI is initialised.
    static var launcherRank: Int? {
        MPIRuntime.launcherRank(environment: ProcessInfo.processInfo.environment)
    }

    /// Writes a line to standard output, unbuffered (a later MPI_Abort cannot lose it).
    static func printLine(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes a line to standard error.
    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func exit(_ code: Int32) -> Never {
        Foundation.exit(code)
    }

    /// Reports `error` as one line tagged with this rank (when there are several) and ends the
    /// job: MPI_Abort takes down every rank, so no rank waits forever in a collective.
    static func fail(_ error: any Error) -> Never {
        // `--help` and `help SUBCOMMAND` arrive as a command whose run throws a clean exit: help
        // text on standard output, status 0.
        if Spectrain.exitCode(for: error) == .success {
            if launcherRank ?? 0 == 0 { printLine(Spectrain.fullMessage(for: error)) }
            MPIRuntime.finalize()
            exit(0)
        }
        // A run stopped by a signal saved its checkpoint on every rank's agreement: not a failure.
        if let train = error as? TrainError, train.stopped != nil {
            if !train.isQuiet { printLine("spectrain: \(train.message)") }
            MPIRuntime.finalize()
            exit(StopSignals.exitCode)
        }
        let code: Int32
        if let exitCode = error as? ExitCode {
            code = exitCode.rawValue
        } else if let quiet = error as? TrainError, quiet.isQuiet {
            code = 1
        } else {
            code = Spectrain.exitCode(for: error).rawValue == 0 ? 1 : Spectrain.exitCode(for: error).rawValue
            let message = Spectrain.message(for: error)
            let size = MPIRuntime.worldSize ?? 1
            if size > 1, let rank = MPIRuntime.worldRank {
                printError("spectrain: error (rank \(rank) of \(size)): \(message)")
            } else if launcherRank ?? 0 == 0 {
                printError("spectrain: error: \(message)")
            }
        }
        if code != 0, let size = MPIRuntime.worldSize, size > 1 {
            MPIRuntime.abortWorld(code: code)
        }
        MPIRuntime.finalize()
        exit(code)
    }
}

extension Job {
    /// Re-runs this executable with the OpenBLAS settings that only take effect at load time
    /// (`BLASEnvironment`: the idle threads' polling time, and `OPENBLAS_CORETYPE` when OpenBLAS
    /// loaded a fallback kernel on a CPU that supports a much faster one). Runs first thing in
    /// `main`, before MPI starts; a variable the user set is always left alone, and once set the
    /// re-run finds nothing to change.
    static func prepareBLASEnvironment() {
        let settings = BLASEnvironment.settings(
            environment: ProcessInfo.processInfo.environment, detectedCore: BLASThreading.coreName, cpuFlags: BLASCoreSelection.cpuFlags())
        guard !settings.isEmpty else { return }
        for setting in settings { setenv(setting.name, setting.value, 1) }
        // Re-execute the binary by its real path (not /proc/self/exe, which would rename the
        // process "exe" in ps, top and pkill).
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        let arguments = CommandLine.arguments
        var cArguments = arguments.map { strdup($0) } + [nil]
        execv(path, &cArguments)
        // execv returns only on failure: continue with the settings OpenBLAS loaded with.
        for pointer in cArguments { free(pointer) }
    }
}
