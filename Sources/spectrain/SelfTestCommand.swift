import ArgumentParser
import Cluster
import Foundation

/// `spectrain selftest`: checks every collective across the launched ranks, and optionally injects
/// a fault to show that a broken rank ends the whole job with a clear error instead of a hang.
struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check that every collective works across the ranks of this job.",
        discussion: """
            Run it under mpirun on the hosts of a real job before a long run. --fault injects a failure
            on one rank after the checks (used by the tests): every rank must then exit non-zero.
            """)

    enum Fault: String, ExpressibleByArgument, CaseIterable {
        /// No fault.
        case none
        /// The fault rank calls allreduce with one more element than the others.
        case mismatch
        /// The fault rank throws an error while the others wait in a barrier.
        case error
        /// The fault rank exits with status 3 without finalising MPI.
        case exit
        /// The fault rank kills itself with SIGKILL.
        case kill
    }

    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Elements in the large allreduce.", valueName: "n"))
    var largeCount = 1 << 20

    @Option(help: "Fault to inject after the checks: \(Fault.allCases.map(\.rawValue).joined(separator: ", ")).")
    var fault: Fault = .none

    @Option(help: ArgumentHelp("Rank on which the fault happens.", valueName: "rank"))
    var faultRank = 1

    struct SelfTestError: Error, CustomStringConvertible {
        var description: String
    }

    func validate() throws {
        guard largeCount >= 0 else { throw ValidationError("--large-count must be at least 0, got \(largeCount)") }
        guard faultRank >= 0 else { throw ValidationError("--fault-rank must be at least 0, got \(faultRank)") }
    }

    func run() throws {
        let job = try Runtime.start(runtime)
        let communicator = job.communicator
        if fault != .none && faultRank >= communicator.size {
            throw ValidationError("--fault-rank \(faultRank) does not exist in a job of \(communicator.size) ranks")
        }
        let outcome = try CollectiveSelfTest.run(on: communicator, largeCount: largeCount)
        for failure in outcome.failures { Job.printError("spectrain: selftest: \(failure)") }
        if outcome.failuresOnAllRanks > 0 {
            throw SelfTestError(description: "collective self-test: \(outcome.failuresOnAllRanks) check(s) failed")
        }
        job.report("selftest: \(outcome.checks) collective checks passed on \(communicator.size) rank\(communicator.size == 1 ? "" : "s") (\(communicator.layout.nodes.count) node\(communicator.layout.nodes.count == 1 ? "" : "s"))")

        let faulty = communicator.rank == faultRank
        switch fault {
        case .none:
            return
        case .mismatch:
            var values = [Float](repeating: 1, count: faulty ? 11 : 10)
            try communicator.allreduce(&values, operation: .sum)
        case .error:
            if faulty { throw SelfTestError(description: "injected failure (--fault error)") }
            try communicator.barrier()
        case .exit:
            if faulty { Foundation.exit(3) }
            try communicator.barrier()
        case .kill:
            if faulty { Foundation.kill(getpid(), SIGKILL) }
            try communicator.barrier()
        }
        throw SelfTestError(description: "the injected fault '\(fault.rawValue)' did not stop the job")
    }
}
