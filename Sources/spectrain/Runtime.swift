import ArgumentParser
import Cluster
import Foundation
import Linalg

/// Options every command that computes shares.
struct RuntimeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "OpenBLAS threads per rank (default: cores on the node / ranks on the node; also SPECTRAIN_BLAS_THREADS or OPENBLAS_NUM_THREADS).",
        valueName: "n"))
    var blasThreads: Int?

    func validate() throws {
        if let blasThreads, blasThreads < 1 {
            throw ValidationError("--blas-threads must be at least 1, got \(blasThreads)")
        }
    }
}

/// What a command runs on: the communicator of all ranks and this rank's BLAS thread count,
/// set up once at start.
struct Runtime {
    let communicator: any Communicator
    let blas: BLASThreadDecision

    /// Starts MPI when launched by mpirun (a single process otherwise) and sets OpenBLAS threads
    /// to this rank's share of its node's cores.
    static func start(_ options: RuntimeOptions) throws -> Runtime {
        let environment = ProcessInfo.processInfo.environment
        let communicator = try MPIRuntime.world(environment: environment)
        let blas = try BLASThreadDecision.resolve(
            requested: options.blasThreads, environment: environment,
            availableCores: BLASThreading.availableCores(), onlineCores: BLASThreading.onlineCores(),
            ranksOnNode: communicator.layout.localSize)
        BLASThreading.setThreads(blas.threads)
        return Runtime(communicator: communicator, blas: blas)
    }

    var isRoot: Bool { communicator.rank == 0 }

    /// Prints a line on rank 0 only.
    func report(_ line: String) {
        if isRoot { Job.printLine(line) }
    }
}
