import Foundation
import Testing

/// End-to-end tests of the built executable: real mpirun jobs of 2 and 3 processes.
///
/// Serialized: each job takes the machine's cores, and parallel mpirun jobs only add noise.
@Suite("spectrain under mpirun", .serialized)
struct MPIProcessTests {
    struct RankInfo: Decodable {
        var rank: Int
        var localSize: Int
        var cores: Int
        var blasThreads: Int
    }

    struct InfoReport: Decodable {
        var worldSize: Int
        var ranks: [RankInfo]
    }

    func info(ranks: Int?, _ extra: [String] = [], environment: [String: String] = [:]) throws -> InfoReport {
        let result = try ProcessRunner.run(["info", "--json"] + extra, ranks: ranks, timeout: 60, environment: environment)
        try #require(result.status == 0, "info failed: \(result.allOutput)")
        return try JSONDecoder().decode(InfoReport.self, from: Data(result.output.utf8))
    }

    @Test("started directly: one rank, all its cores for BLAS")
    func singleRank() throws {
        let report = try info(ranks: nil)
        #expect(report.worldSize == 1)
        #expect(report.ranks.count == 1)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(report.ranks[0].blasThreads == cores)
    }

    @Test("mpirun -np 2: two ranks on one node, cores shared out among them")
    func twoRanks() throws {
        let report = try info(ranks: 2)
        #expect(report.worldSize == 2)
        #expect(report.ranks.map(\.rank) == [0, 1])
        #expect(report.ranks.allSatisfy { $0.localSize == 2 })
        // Each rank gets half the node's cores, fewer if mpirun bound it to fewer (it binds each
        // of two ranks to one core by default). On the 2-core CI machine: one thread per rank.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(report.ranks.allSatisfy { $0.blasThreads == max(1, min($0.cores, cores / 2)) })
        if cores == 2 { #expect(report.ranks.allSatisfy { $0.blasThreads == 1 }) }
    }

    @Test("--blas-threads and SPECTRAIN_BLAS_THREADS override the policy on every rank")
    func threadOverride() throws {
        #expect(try info(ranks: 2, ["--blas-threads", "3"]).ranks.allSatisfy { $0.blasThreads == 3 })
        let fromEnvironment = try info(ranks: 2, environment: ["SPECTRAIN_BLAS_THREADS": "2"])
        #expect(fromEnvironment.ranks.allSatisfy { $0.blasThreads == 2 })
    }

    @Test("every collective checks out on 1, 2 and 3 ranks (3 oversubscribed)", arguments: [1, 2, 3])
    func selfTest(ranks: Int) throws {
        let result = try ProcessRunner.run(["selftest"], ranks: ranks, timeout: 120)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.output.contains("collective checks passed on \(ranks) rank"))
    }

    /// A fault on one rank, the status it must end with, and a line the user must see.
    struct FaultCase: CustomTestStringConvertible, Sendable {
        var ranks: Int
        var fault: String
        var expectedMessage: String
        var testDescription: String { "\(fault) on \(ranks) ranks" }
    }

    static let faultCases = [
        FaultCase(ranks: 2, fault: "mismatch", expectedMessage:
            "collective mismatch: rank 0 called allreduce(sum) of 10 Float32; rank 1 called allreduce(sum) of 11 Float32"),
        FaultCase(ranks: 3, fault: "mismatch", expectedMessage:
            "collective mismatch: ranks 0,2 called allreduce(sum) of 10 Float32; rank 1 called allreduce(sum) of 11 Float32"),
        FaultCase(ranks: 2, fault: "error", expectedMessage: "spectrain: error (rank 1 of 2): injected failure"),
        FaultCase(ranks: 3, fault: "error", expectedMessage: "spectrain: error (rank 1 of 3): injected failure"),
        FaultCase(ranks: 2, fault: "exit", expectedMessage: "exited"),
        FaultCase(ranks: 2, fault: "kill", expectedMessage: "signal 9"),
        FaultCase(ranks: 3, fault: "kill", expectedMessage: "signal 9"),
    ]

    @Test("a failing rank ends the whole job non-zero, promptly, with a clear message", arguments: faultCases)
    func faults(_ fault: FaultCase) throws {
        let result = try ProcessRunner.run(["selftest", "--fault", fault.fault, "--large-count", "1000"], ranks: fault.ranks, timeout: 60)
        #expect(result.status != 0)
        #expect(result.status != 124, "the job hung until the timeout")
        #expect(result.seconds < 30)
        #expect(result.allOutput.contains(fault.expectedMessage), "\(result.allOutput)")
    }

    @Test("a bad option is one error line, printed by rank 0 only")
    func badOption() throws {
        let result = try ProcessRunner.run(["info", "--blas-threads", "0"], ranks: 2, timeout: 60)
        #expect(result.status != 0)
        let lines = result.errorOutput.split(separator: "\n").filter { $0.contains("--blas-threads must be at least 1") }
        #expect(lines.count == 1, "\(result.errorOutput)")
    }

    @Test("a bad SPECTRAIN_MPI value is a one-line error")
    func badEnvironment() throws {
        let result = try ProcessRunner.run(["info"], environment: ["SPECTRAIN_MPI": "maybe"])
        #expect(result.status != 0)
        #expect(result.errorOutput == "spectrain: error: SPECTRAIN_MPI: 'maybe' is not one of auto, on, off\n")
    }

    @Test("bench gemm reports GFLOP/s, alone and on 2 ranks")
    func benchGemm() throws {
        for ranks in [nil, 2] as [Int?] {
            let result = try ProcessRunner.run(
                ["bench", "gemm", "--sizes", "64,128", "--min-time", "0.05", "--markdown"], ranks: ranks, timeout: 120)
            #expect(result.status == 0, "\(result.allOutput)")
            let rows = result.output.split(separator: "\n").filter { $0.hasPrefix("sgemm") || $0.hasPrefix("dgemm") }
            #expect(rows.count == 4)
            for row in rows {
                let gflops = row.split(separator: " ", omittingEmptySubsequences: true)[4]
                #expect((Double(gflops) ?? 0) > 0, "\(row)")
            }
        }
        let bad = try ProcessRunner.run(["bench", "gemm", "--sizes", "64,abc"])
        #expect(bad.status != 0)
        #expect(bad.errorOutput.contains("--sizes: 'abc' is not a matrix size"))
    }
}
