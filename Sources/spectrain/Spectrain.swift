import ArgumentParser
import Cluster
import Foundation
import Support

/// The `spectrain` command line: every subcommand runs the same way on one process or under mpirun.
struct Spectrain: ParsableCommand {
    static let version = SpectrainVersion.current

    static let configuration = CommandConfiguration(
        commandName: "spectrain",
        abstract: "Distributed training with spectral-factorized curvature (no eigendecompositions).",
        discussion: """
            Run directly for a single-rank job, or under mpirun for many ranks:
              spectrain info
              mpirun -np 4 spectrain info
            """,
        version: version,
        subcommands: [TrainCommand.self, ConfigCommand.self, PlanCommand.self, EvalCommand.self, SampleCommand.self, PlotCommand.self, InspectCommand.self, SPD.self, ES.self, Info.self, Bench.self, SelfTest.self]
    )
}

/// Entry point: parses the command, runs it, and turns any error into one line on stderr and a
/// non-zero exit on every rank (MPI_Abort when several ranks run), never a hang.
@main
enum Main {
    static func main() {
        Job.prepareBLASEnvironment()
        var command: any ParsableCommand
        do {
            command = try Spectrain.parseAsRoot()
        } catch {
            // Before MPI starts every rank parses the same arguments: rank 0 alone prints.
            if Job.launcherRank ?? 0 == 0 {
                Spectrain.exit(withError: error)
            }
            Job.exit(Spectrain.exitCode(for: error).rawValue)
        }
        do {
            try command.run()
            MPIRuntime.finalize()
            Job.exit(0)
        } catch {
            Job.fail(error)
        }
    }
}
