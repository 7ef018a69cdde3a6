import ArgumentParser
import Cluster
import Foundation
import Linalg
import Support
import Train

/// `spectrain plan CONFIG`: the ownership plan for N ranks and, with `--predict`, the step time
/// and speed-up the scaling model predicts at 2-64 nodes from a profile measured here and a
/// link measured by `spectrain bench link` (docs/scaling.md).
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the ownership plan; with --predict, the predicted step time and speed-up on more nodes.",
        discussion: """
            --predict profiles the configuration here on one rank (one BLAS thread unless
            --blas-threads says otherwise: the threads each rank of the cluster will use), then
            simulates steps on each node count with the link of --link (a `bench link --output`
            file measured on the cluster's network) or of --bandwidth and --latency.
            """)

    @Argument(help: "The JSON configuration.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration field.", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Plan for this many ranks (without --predict).", valueName: "n"))
    var ranks = 1

    @Flag(help: "Predict step times and speed-ups on more nodes.")
    var predict = false

    @Option(help: ArgumentHelp("The link as `spectrain bench link --output` measured it.", valueName: "file"))
    var link: String?

    @Option(help: ArgumentHelp("Instead of --link: each node's link bandwidth in Gbit/s.", valueName: "Gbit/s"))
    var bandwidth: Double?

    @Option(help: ArgumentHelp("With --bandwidth: the one-way latency of a small message in microseconds.", valueName: "us"))
    var latency: Double?

    @Option(help: ArgumentHelp("Comma-separated node counts to predict.", valueName: "n,n,..."))
    var nodes = "1,2,3,4,8,16,32,64"

    @Option(help: ArgumentHelp("With --bandwidth: seconds of computation lost per second of transfer hidden behind it (default 0).", valueName: "s"))
    var overlapCost: Double?

    @Option(help: ArgumentHelp("The nodes share this many cores (emulated hosts on one machine): compute slows by nodes / cores beyond them.", valueName: "n"))
    var sharedCores: Int?

    @Option(help: ArgumentHelp("Steps to profile (after 3 warm-up steps).", valueName: "n"))
    var profileSteps = 16

    @Option(help: ArgumentHelp("OpenBLAS threads for the profile (each rank's on the cluster).", valueName: "n"))
    var blasThreads = 1

    @Flag(help: "Also print the prediction as Markdown table rows.")
    var markdown = false

    func parsedNodes() throws -> [Int] {
        let values = nodes.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try values.map { text in
            guard let count = Int(text), (1...OwnershipReport.maxPreviewRanks).contains(count) else {
                throw ValidationError("--nodes: '\(text)' is not a node count in 1...\(OwnershipReport.maxPreviewRanks)")
            }
            return count
        }
    }

    func validate() throws {
        guard (1...OwnershipReport.maxPreviewRanks).contains(ranks) else {
            throw ValidationError("--ranks must be in 1...\(OwnershipReport.maxPreviewRanks), got \(ranks)")
        }
        _ = try parsedNodes()
        guard (1...10_000).contains(profileSteps) else { throw ValidationError("--profile-steps must be in 1...10000, got \(profileSteps)") }
        guard (1...1024).contains(blasThreads) else { throw ValidationError("--blas-threads must be in 1...1024, got \(blasThreads)") }
        if let sharedCores, !(1...1_000_000).contains(sharedCores) {
            throw ValidationError("--shared-cores must be in 1...1000000, got \(sharedCores)")
        }
        if let bandwidth, !(bandwidth.isFinite && bandwidth > 0 && bandwidth <= 1e6) {
            throw ValidationError("--bandwidth must be a positive number of Gbit/s up to 1e6, got \(bandwidth)")
        }
        if let overlapCost, !(overlapCost.isFinite && overlapCost >= 0 && overlapCost <= 10) {
            throw ValidationError("--overlap-cost must be a number of seconds per second in 0...10, got \(overlapCost)")
        }
        if overlapCost != nil && bandwidth == nil { throw ValidationError("--overlap-cost goes with --bandwidth (a --link file has its own)") }
        if let latency, !(latency.isFinite && latency >= 0 && latency <= 1e7) {
            throw ValidationError("--latency must be a number of microseconds in 0...1e7, got \(latency)")
        }
        guard predict || (link == nil && bandwidth == nil && latency == nil && sharedCores == nil) else {
            throw ValidationError("--link, --bandwidth, --latency and --shared-cores apply to --predict only")
        }
        if predict {
            guard (link == nil) != (bandwidth == nil) else { throw ValidationError("--predict needs either --link FILE or --bandwidth (and --latency)") }
            guard (bandwidth == nil) == (latency == nil) else { throw ValidationError("--bandwidth and --latency go together") }
        }
    }

    func run() throws {
        let settings = try TrainConfig.load(path: config, overrides: overrides)
        guard predict else {
            Job.printLine(try OwnershipReport.preview(config: settings, ranks: ranks))
            return
        }
        BLASThreading.setThreads(blasThreads)
        let links = try linkParameters()
        let model = ScalingModel(
            reduceScatter: links.reduceScatter, allgather: links.allgather, smallAllreduceSeconds: links.smallAllreduce,
            bucketBytes: settings.distributed.bucketBytes, sharedCores: sharedCores, overlapCost: links.overlapCost,
            wireBytesPerElement: settings.distributed.exchangeDType.bytesPerElement)
        let counts = try parsedNodes()
        let predictions = try ScalingPrediction.run(
            config: settings, model: model, nodes: counts, profileSteps: profileSteps, warmup: 3, report: Job.printLine)
        Job.printLine(links.description)
        Job.printLine(ScalingPrediction.table(predictions, markdown: false))
        if markdown { Job.printLine(ScalingPrediction.table(predictions, markdown: true)) }
        Job.printLine(ScalingPrediction.verdict(predictions))
    }

    /// The link of --link or of --bandwidth and --latency.
    private func linkParameters() throws -> (
        reduceScatter: LinkModel, allgather: LinkModel, smallAllreduce: Double, overlapCost: Double, description: String
    ) {
        if let bandwidth, let latency {
            let model = LinkModel(alpha: latency * 1e-6, beta: bandwidth * 1e9 / 8, ranks: 2)
            return (model, model, 2 * latency * 1e-6, overlapCost ?? 0, String(
                format: "link: %g Gbit/s, %g us latency, overlap cost %g s/s (given)", bandwidth, latency, overlapCost ?? 0))
        }
        let path = link!
        let file = try MeasuredLink.read(path)
        return (file.reduceScatter, file.allgather, file.smallAllreduce, file.overlapCost, String(
            format: "link (%@, measured on %d ranks): reduceScatter %.1f us + %.3f Gbit/s, allgatherv %.1f us + %.3f Gbit/s, small allreduce %.1f us, overlap cost %.2f s/s",
            path, file.ranks, file.reduceScatter.alpha * 1e6, file.reduceScatter.beta * 8e-9,
            file.allgather.alpha * 1e6, file.allgather.beta * 8e-9, file.smallAllreduce * 1e6, file.overlapCost))
    }
}

/// The fitted link of a `bench link --output` file, checked.
struct MeasuredLink {
    var ranks: Int
    var reduceScatter: LinkModel
    var allgather: LinkModel
    var smallAllreduce: Double
    var overlapCost: Double

    private struct File: Decodable {
        struct Fit: Decodable { var alphaSeconds: Double?; var betaBytesPerSecond: Double? }
        struct Latency: Decodable { var latencySeconds: Double }
        var ranks: Int
        var allreduce: Latency
        var reduceScatter: Fit
        var allgatherv: Fit
        var overlapCost: Double?
    }

    static func read(_ path: String) throws -> MeasuredLink {
        let bytes: [UInt8]
        do {
            bytes = try RegularFile.read(path, limit: 1 << 20)
        } catch {
            throw ValidationError("--link: \(error)")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(bytes))
        } catch {
            throw ValidationError("--link \(path): not a `spectrain bench link --output` file")
        }
        guard (2...1_000_000).contains(file.ranks) else { throw ValidationError("--link \(path): ranks \(file.ranks) is not in 2...1000000") }
        func model(_ fit: File.Fit, _ name: String) throws -> LinkModel {
            guard let alpha = fit.alphaSeconds, let beta = fit.betaBytesPerSecond else {
                throw ValidationError("--link \(path): \(name) has no fitted alpha and beta")
            }
            guard alpha.isFinite, alpha >= 0, alpha < 10, beta.isFinite, beta > 0 else {
                throw ValidationError("--link \(path): \(name) alpha \(alpha) s or beta \(beta) B/s is out of range")
            }
            return LinkModel(alpha: alpha, beta: beta, ranks: file.ranks)
        }
        let latency = file.allreduce.latencySeconds
        guard latency.isFinite, latency >= 0, latency < 10 else {
            throw ValidationError("--link \(path): allreduce latency \(latency) s is out of range")
        }
        let overlapCost = file.overlapCost ?? 0
        guard overlapCost.isFinite, overlapCost >= 0, overlapCost <= 10 else {
            throw ValidationError("--link \(path): overlapCost \(overlapCost) is out of range")
        }
        return MeasuredLink(
            ranks: file.ranks, reduceScatter: try model(file.reduceScatter, "reduceScatter"),
            allgather: try model(file.allgatherv, "allgatherv"), smallAllreduce: latency, overlapCost: overlapCost)
    }
}
