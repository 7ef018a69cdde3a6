import ArgumentParser
import Cluster
import Foundation
import Linalg
import Support

/// `spectrain info`: what this job runs on, as every rank sees it.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the version, world size, rank layout, MPI library and BLAS threads per rank.")

    @OptionGroup var runtime: RuntimeOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    struct RankReport: Codable {
        var rank: Int
        var host: String
        var localRank: Int
        var localSize: Int
        var cores: Int
        var blasThreads: Int
        var blasThreadsReason: String
    }

    struct Report: Codable {
        var version: String
        var worldSize: Int
        var mpiLibrary: String
        var blasConfiguration: String
        var blasCore: String
        /// Set when spectrain overrode OpenBLAS's own CPU detection: the kernel it had picked.
        var blasDetectedCore: String?
        /// `OPENBLAS_THREAD_TIMEOUT` as OpenBLAS loaded with it (`BLASEnvironment`); nil: unset.
        var blasThreadTimeout: String?
        var ranks: [RankReport]
    }

    func run() throws {
        let job = try Runtime.start(runtime)
        let communicator = job.communicator
        let layout = communicator.layout
        let numbers = try communicator.gather(
            [Int64(layout.localRank), Int64(layout.localSize), Int64(BLASThreading.availableCores()),
             Int64(BLASThreading.threads)],
            root: 0)
        let reasons = try communicator.gather(job.blas.reason, root: 0)
        guard let numbers, let reasons else { return }

        let ranks = (0..<communicator.size).map { rank in
            let values = numbers[(rank * 4)..<(rank * 4 + 4)].map { Int($0) }
            return RankReport(
                rank: rank, host: layout.hostnames[rank], localRank: values[0], localSize: values[1],
                cores: values[2], blasThreads: values[3], blasThreadsReason: reasons[rank])
        }
        let report = Report(
            version: Spectrain.version, worldSize: communicator.size, mpiLibrary: MPIRuntime.libraryVersion,
            blasConfiguration: BLASThreading.configuration, blasCore: BLASThreading.coreName,
            blasDetectedCore: ProcessInfo.processInfo.environment["SPECTRAIN_OPENBLAS_DETECTED_CORE"],
            blasThreadTimeout: ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"], ranks: ranks)
        if json {
            let encoder = NonFiniteJSON.encoder([.prettyPrinted, .sortedKeys])
            Job.printLine(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            Job.printLine(Self.render(report, nodes: layout.nodes))
        }
    }

    static func render(_ report: Report, nodes: [(host: String, ranks: [Int])]) -> String {
        var lines = [
            "spectrain \(report.version)",
            "world size    \(report.worldSize) rank\(report.worldSize == 1 ? "" : "s") on \(nodes.count) node\(nodes.count == 1 ? "" : "s")",
            "MPI library   \(report.mpiLibrary)",
            "BLAS          \(report.blasConfiguration)",
            "BLAS kernels  \(report.blasCore)" + (report.blasDetectedCore.map { " (OpenBLAS detected \($0); set OPENBLAS_CORETYPE to choose)" } ?? ""),
            "BLAS idle     " + (report.blasThreadTimeout.map { "threads poll 2^\($0) cycles after a GEMM, then sleep (OPENBLAS_THREAD_TIMEOUT)" } ?? "OpenBLAS's default polling"),
            "",
        ]
        let table = [["rank", "host", "local", "cores", "BLAS threads", "why"]] + report.ranks.map {
            ["\($0.rank)", $0.host, "\($0.localRank)/\($0.localSize)", "\($0.cores)", "\($0.blasThreads)", $0.blasThreadsReason]
        }
        lines += TextTable.render(table)
        return lines.joined(separator: "\n")
    }
}
