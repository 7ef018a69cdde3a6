import CMPI
import Foundation

/// Process-wide MPI state: whether this process was launched by mpirun, initialising MPI once,
/// finalising it at exit, and the library's identification.
package enum MPIRuntime {
    /// Environment variables that mpirun (OpenMPI, via PMIx) or other PMI launchers set in the
    /// processes they start.
    static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"]

    /// Whether the process was started by an MPI launcher. `SPECTRAIN_MPI=on` forces MPI (a
    /// singleton job when started directly); `SPECTRAIN_MPI=off` forces a single process.
    package static func isLaunchedByMPI(environment: [String: String]) throws(CommunicatorError) -> Bool {
        switch environment["SPECTRAIN_MPI"]?.lowercased() {
        case nil, "", "auto":
            return launcherVariables.contains { environment[$0] != nil }
        case "on", "1", "yes":
            return true
        case "off", "0", "no":
            return false
        case let other?:
            throw .launch("SPECTRAIN_MPI: '\(other)' is not one of auto, on, off")
        }
    }

    /// The rank the launcher assigned, read from the environment before MPI is initialised
    /// (so errors found that early are printed by rank 0 only); nil outside a launcher.
    package static func launcherRank(environment: [String: String]) -> Int? {
        for variable in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"] {
            if let text = environment[variable], let rank = Int(text) { return rank }
        }
        return nil
    }

    /// The communicator of all ranks: MPI's world under a launcher, a single process otherwise.
    package static func world(environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> any Communicator
    {
        if try isLaunchedByMPI(environment: environment) {
            let checks = environment["SPECTRAIN_CHECK_COLLECTIVES"].map { !["0", "off", "no"].contains($0.lowercased()) } ?? true
            return try MPICommunicator.world(checksCollectives: checks)
        }
        return SingleProcessCommunicator()
    }

    /// The MPI library's own identification (`MPI_Get_library_version`, callable before init),
    /// first line only.
    package static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: Int(spectrain_max_library_version_string) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == MPI_SUCCESS else { return "unknown" }
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "\n").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? text
    }

    /// Whether `MPI_Init` has run in this process.
    package static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// Whether `MPI_Finalize` has run in this process.
    package static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// Initialises MPI once per process (MPI forbids a second `MPI_Init`, even after finalize).
    /// Later calls return the first call's outcome.
    static func initialize() throws(CommunicatorError) {
        try initialization.get()
    }

    private static let initialization: Result<Void, CommunicatorError> = {
        if isInitialized { return .success(()) }
        var provided: Int32 = 0
        // SERIALIZED: all of spectrain's MPI calls come from one thread at a time, though not
        // always the same thread (test runners move work between threads).
        let code = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
        if code != MPI_SUCCESS {
            return .failure(.mpi(call: "MPI_Init_thread", code: code, message: errorString(code)))
        }
        let handlerCode = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)
        if handlerCode != MPI_SUCCESS {
            return .failure(.mpi(call: "MPI_Comm_set_errhandler", code: handlerCode, message: errorString(handlerCode)))
        }
        return .success(())
    }()

    /// Finalises MPI if it was initialised and not yet finalised; call once at normal exit.
    package static func finalize() {
        if isInitialized && !isFinalized {
            MPI_Finalize()
        }
    }

    /// `MPI_Error_string` of an MPI return code.
    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(spectrain_max_error_string) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "unknown MPI error \(code)" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Throws a `CommunicatorError.mpi` naming `call` unless `code` is `MPI_SUCCESS`.
    @inline(__always)
    static func check(_ code: Int32, _ call: @autoclosure () -> String) throws(CommunicatorError) {
        if code != MPI_SUCCESS {
            throw .mpi(call: call(), code: code, message: errorString(code))
        }
    }
}

extension MPIRuntime {
    /// The number of ranks in MPI's world, or nil before `MPI_Init` / after `MPI_Finalize`.
    package static var worldSize: Int? {
        guard isInitialized && !isFinalized else { return nil }
        var size: Int32 = 0
        guard MPI_Comm_size(MPI_COMM_WORLD, &size) == MPI_SUCCESS else { return nil }
        return Int(size)
    }

    /// This process's rank in MPI's world, or nil before `MPI_Init` / after `MPI_Finalize`.
    package static var worldRank: Int? {
        guard isInitialized && !isFinalized else { return nil }
        var rank: Int32 = 0
        guard MPI_Comm_rank(MPI_COMM_WORLD, &rank) == MPI_SUCCESS else { return nil }
        return Int(rank)
    }

    /// Ends every rank of the job with exit status `code` (`MPI_Abort` on the world).
    package static func abortWorld(code: Int32) -> Never {
        MPI_Abort(MPI_COMM_WORLD, code)
        exit(code)
    }
}
