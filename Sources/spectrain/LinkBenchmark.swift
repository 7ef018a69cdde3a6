import ArgumentParser
import Cluster
import Foundation
import Support

/// `spectrain bench link`: the latency and bandwidth of the links between ranks, measured with the
/// collectives the trainer uses and fitted to the ring model a scaling model can read back.
struct LinkBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Time allreduce, reduceScatter and allgatherv between ranks and fit latency and bandwidth.",
        discussion: """
            Run under mpirun with at least 2 ranks. Each repetition starts after a barrier; its \
            time is the slowest rank's, and the table shows the median over repetitions. Buffers \
            are Float32, split evenly over the ranks; a size is the whole buffer M in bytes. \
            reduceScatter and in-place allgatherv are fitted, by least squares on relative error, \
            to the ring model

              t(M) = (N - 1) alpha + ((N - 1) / N) M / beta   (N ranks)

            so beta is the bandwidth each rank sends at and alpha the cost of one ring step; \
            "Gbit/s per rank" is ((N - 1) / N) M / t. The allreduce of small buffers gives the \
            latency of one small exchange. Times include the communicator's signature check before \
            each collective (a small allgather), as in training; SPECTRAIN_CHECK_COLLECTIVES=0 \
            turns it off. Sizes are bytes with optional K, M, G (1K = 1024), multiples of 4.

            --output writes {"ranks", "hosts", "allreduce": {"latencySeconds", "points"}, \
            "reduceScatter" and "allgatherv": {"alphaSeconds", "betaBytesPerSecond", "points"}} \
            with points [[bytes, median seconds], ...] and null parameters where no fit exists.
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Total buffer sizes for reduceScatter and allgatherv (at least 2).", valueName: "bytes,..."))
    var sizes = "4K,16K,64K,256K,1M,4M,16M"

    @Option(help: ArgumentHelp("Buffer sizes for the small-message allreduce.", valueName: "bytes,..."))
    var latencySizes = "8,64,512,4K"

    @Option(help: ArgumentHelp("Minimum seconds of timed repetitions per collective and size, barriers not counted (at least 5 repetitions).", valueName: "s"))
    var minTime = 0.3

    @Option(help: ArgumentHelp("Write the fitted parameters and the medians as JSON to this file.", valueName: "file"))
    var output: String?

    /// The largest buffer accepted, so that the buffers (M plus M / N per rank) fit in memory.
    static let sizeLimit = 1 << 30
    /// Repetitions per size at most, whatever `--min-time` asks.
    static let maximumRepetitions = 100_000

    func parsedSizes() throws -> [Int] {
        do {
            return try LinkModel.parseSizes(sizes, option: "--sizes", multiple: 4, limit: Self.sizeLimit, minimumCount: 2)
        } catch { throw ValidationError(error.description) }
    }

    func parsedLatencySizes() throws -> [Int] {
        do {
            return try LinkModel.parseSizes(latencySizes, option: "--latency-sizes", multiple: 4, limit: Self.sizeLimit, minimumCount: 1)
        } catch { throw ValidationError(error.description) }
    }

    func validate() throws {
        _ = try parsedSizes()
        _ = try parsedLatencySizes()
        guard minTime > 0, minTime <= 600 else { throw ValidationError("--min-time must be in (0, 600] seconds, got \(minTime)") }
        if let output { try Self.checkWritable(output) }
    }

    func run() throws {
        let job = try Runtime.start(runtime)
        let communicator = job.communicator
        let ranks = communicator.size
        guard ranks >= 2 else {
            throw ValidationError("bench link: needs at least 2 ranks (run it under mpirun -np 2 or more), got \(ranks)")
        }
        let hosts = communicator.layout.nodes.map(\.host)
        let checks = (communicator as? MPICommunicator)?.checksCollectives ?? false
        job.report("link benchmark: \(ranks) ranks on \(hosts.count) host(s) (\(hosts.joined(separator: ", "))); Float32 buffers; medians over >= 5 repetitions and >= \(minTime) s, slowest rank per repetition; signature checks \(checks ? "on" : "off")")

        let sizes = try parsedSizes()
        let latencySizes = try parsedLatencySizes()
        let largest = max(sizes.last ?? 0, latencySizes.last ?? 0) / 4
        var buffer = [Float](repeating: 0, count: largest)
        var segment = [Float](repeating: 0, count: largest / ranks + 1)

        var latency: [(bytes: Int, seconds: Double)] = []
        var reduceScatter: [(bytes: Int, seconds: Double)] = []
        var allgatherv: [(bytes: Int, seconds: Double)] = []
        try buffer.withUnsafeMutableBufferPointer { whole in
            try segment.withUnsafeMutableBufferPointer { part in
                for bytes in latencySizes {
                    let values = UnsafeMutableBufferPointer(rebasing: whole[0..<(bytes / 4)])
                    latency.append((bytes, try measure(communicator) { try communicator.allreduce(values, operation: .sum) }))
                }
                for bytes in sizes {
                    let partition = try Partition.even(total: bytes / 4, ranks: ranks)
                    let values = UnsafeMutableBufferPointer(rebasing: whole[0..<partition.total])
                    let own = UnsafeMutableBufferPointer(rebasing: part[0..<partition.counts[communicator.rank]])
                    reduceScatter.append((bytes, try measure(communicator) {
                        try communicator.reduceScatter(UnsafeBufferPointer(values), into: own, partition: partition, operation: .sum)
                    }))
                    allgatherv.append((bytes, try measure(communicator) {
                        try communicator.allgatherv(inPlace: values, partition: partition)
                    }))
                }
            }
        }
        let overlapCost = try measureOverlapCost(communicator, bytes: sizes.last!, buffer: &buffer, segment: &segment)

        let report = LinkReport(
            ranks: ranks, hosts: hosts,
            allreduce: .init(latencySeconds: latency[0].seconds, points: latency),
            reduceScatter: .init(points: reduceScatter, ranks: ranks),
            allgatherv: .init(points: allgatherv, ranks: ranks), overlapCost: overlapCost)
        for line in report.lines() { job.report(line) }
        if let output, job.isRoot { try Self.write(report, to: output) }
    }

    /// Seconds of computation lost per second of transfers in flight, as the trainer overlaps
    /// them: a fixed computation (a dependent chain of multiply-adds, about 40 ms) timed alone and
    /// while a reduce-scatter and an allgatherv of `bytes` run with the progress thread on; the
    /// loss over the time both overlapped, median of 3, the largest over ranks. On hosts that
    /// share cores with the network stack this is the price of hiding communication.
    func measureOverlapCost(_ communicator: any Communicator, bytes: Int, buffer: inout [Float], segment: inout [Float]) throws -> Double {
        let mpi = communicator as? MPICommunicator
        let previous = mpi?.progressInterval
        mpi?.progressInterval = .microseconds(100)
        defer { mpi?.progressInterval = previous }
        let clock = ContinuousClock()
        func compute() -> Double {
            let start = clock.now
            var x: Float = 1
            for _ in 0..<20_000_000 { x = x * 0.999_999 + 1e-7 }
            precondition(x.isFinite)
            return start.duration(to: clock.now).inSeconds
        }
        let partition = try Partition.even(total: bytes / 4, ranks: communicator.size)
        var alone: [Double] = []
        var costs: [Double] = []
        for _ in 0..<3 {
            try communicator.barrier()
            alone.append(compute())
        }
        let baseline = alone.sorted()[1]
        try buffer.withUnsafeMutableBufferPointer { whole in
            try segment.withUnsafeMutableBufferPointer { part in
                let values = UnsafeMutableBufferPointer(rebasing: whole[0..<partition.total])
                let own = UnsafeMutableBufferPointer(rebasing: part[0..<partition.counts[communicator.rank]])
                for _ in 0..<3 {
                    try communicator.barrier()
                    let scatter = try communicator.startReduceScatter(values, into: own, partition: partition, operation: .sum)
                    let scatterBusy = compute()
                    let scatterDone = try communicator.wait(for: scatter)
                    let gather = try communicator.startAllgatherv(inPlace: values, partition: partition)
                    let gatherBusy = compute()
                    let gatherDone = try communicator.wait(for: gather)
                    let overlapped = min(scatterBusy, scatterDone.started.duration(to: scatterDone.finished).inSeconds)
                        + min(gatherBusy, gatherDone.started.duration(to: gatherDone.finished).inSeconds)
                    costs.append(overlapped > 0 ? max(0, scatterBusy + gatherBusy - 2 * baseline) / overlapped : 0)
                }
            }
        }
        return try communicator.allreduce(costs.sorted()[1], operation: .max)
    }

    /// The median over repetitions of the slowest rank's seconds for `body`: one warm-up call,
    /// then repetitions, each after a barrier, until `minTime` seconds of them and at least 5.
    /// The stopping test uses only the agreed maxima, so every rank makes the same calls.
    func measure(_ communicator: any Communicator, _ body: () throws -> Void) throws -> Double {
        try body()
        var times: [Double] = []
        var total = 0.0
        let clock = ContinuousClock()
        while times.count < 5 || (total < minTime && times.count < Self.maximumRepetitions) {
            try communicator.barrier()
            let start = clock.now
            try body()
            let slowest = try communicator.allreduce(start.duration(to: clock.now).inSeconds, operation: .max)
            times.append(slowest)
            total += slowest
        }
        return times.sorted()[times.count / 2]
    }

    /// Throws one line unless `path` can be created or replaced: its folder exists and is
    /// writable, and `path` is not a folder.
    static func checkWritable(_ path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? "." : folder
        var isFolder: ObjCBool = false
        guard !path.isEmpty, !path.hasSuffix("/") else { throw ValidationError("--output '\(path)': not a file name") }
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), isFolder.boolValue else {
            throw ValidationError("--output \(path): folder \(directory) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw ValidationError("--output \(path): folder \(directory) is not writable")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw ValidationError("--output \(path): is a folder")
        }
    }

    /// Writes `report` to `path` as JSON: a temporary file in the same folder renamed over it.
    static func write(_ report: LinkReport, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(report).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            throw ValidationError("--output \(path): cannot write (\((underlying ?? error as NSError).localizedDescription))")
        }
        Job.printLine("wrote \(path)")
    }
}

/// What `bench link` measured, as printed and as written with `--output`: the ranks and hosts, the
/// small-message allreduce and the ring-model fits.
struct LinkReport: Encodable {
    var ranks: Int
    var hosts: [String]
    var allreduce: Latency
    var reduceScatter: RingFit
    var allgatherv: RingFit
    /// Seconds of computation lost per second of transfers in flight (`measureOverlapCost`).
    var overlapCost: Double

    /// Median seconds of the small-message allreduce per size; `latencySeconds` is the smallest's.
    struct Latency: Encodable {
        var latencySeconds: Double
        var points: [(bytes: Int, seconds: Double)]

        enum CodingKeys: String, CodingKey { case latencySeconds, points }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(latencySeconds, forKey: .latencySeconds)
            try LinkReport.encode(points, into: &container, forKey: .points)
        }
    }

    /// Median seconds per total size and the ring model fitted to them (null parameters, and
    /// the reason in `problem`, when no fit exists).
    struct RingFit: Encodable {
        var points: [(bytes: Int, seconds: Double)]
        var model: LinkModel?
        var problem: String?

        init(points: [(bytes: Int, seconds: Double)], ranks: Int) {
            self.points = points
            do {
                model = try LinkModel.fit(points, ranks: ranks)
            } catch {
                problem = error.description
            }
        }

        enum CodingKeys: String, CodingKey { case alphaSeconds, betaBytesPerSecond, points }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(model?.alpha, forKey: .alphaSeconds)
            try container.encode(model?.beta, forKey: .betaBytesPerSecond)
            try LinkReport.encode(points, into: &container, forKey: .points)
        }
    }

    /// `points` as [[bytes, seconds], ...].
    static func encode<Key: CodingKey>(
        _ points: [(bytes: Int, seconds: Double)], into container: inout KeyedEncodingContainer<Key>, forKey key: Key
    ) throws {
        var list = container.nestedUnkeyedContainer(forKey: key)
        for point in points {
            var pair = list.nestedUnkeyedContainer()
            try pair.encode(point.bytes)
            try pair.encode(point.seconds)
        }
    }

    /// The tables and fitted figures as printed.
    func lines() -> [String] {
        var rows = [["collective", "size", "median ms", "Gbit/s per rank", "model ms"]]
        for (name, fit) in [("reduceScatter", reduceScatter), ("allgatherv", allgatherv)] {
            for point in fit.points {
                let sent = LinkModel.bytesSentPerRank(total: Double(point.bytes), ranks: ranks)
                rows.append([
                    name, Self.byteText(point.bytes), Self.significant(point.seconds * 1e3), format(sent * 8 / point.seconds / 1e9),
                    fit.model.map { Self.significant($0.seconds(bytes: Double(point.bytes)) * 1e3) } ?? "-",
                ])
            }
        }
        var lines = TextTable.render(rows) + [""]
        lines += TextTable.render([["allreduce", "size", "median us"]] + allreduce.points.map {
            ["", Self.byteText($0.bytes), format($0.seconds * 1e6)]
        })
        lines.append("")
        lines.append("ring model t(M) = (N-1) alpha + ((N-1)/N) M / beta, N = \(ranks):")
        for (name, fit) in [("reduceScatter", reduceScatter), ("allgatherv", allgatherv)] {
            if let model = fit.model {
                lines.append("  \(name): alpha \(format(model.alpha * 1e6)) us, beta \(format(model.beta * 8 / 1e9)) Gbit/s (worst deviation from the medians \(format(100 * model.worstRelativeError(fit.points)))%)")
            } else {
                lines.append("  \(name): no fit: \(fit.problem ?? "")")
            }
        }
        lines.append("allreduce latency (\(Self.byteText(allreduce.points[0].bytes))): \(format(allreduce.latencySeconds * 1e6)) us")
        lines.append("computation lost while transfers are in flight (progress thread on): \(format(overlapCost)) s per s")
        return lines
    }

    /// `bytes` with a binary unit when it divides evenly ("4 KiB", "16 MiB"), else in bytes.
    static func byteText(_ bytes: Int) -> String {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) B"
    }

    /// `value` with three significant digits and no exponent, for times from microseconds up.
    static func significant(_ value: Double) -> String {
        guard value > 0, value.isFinite else { return "\(value)" }
        let decimals = max(0, 2 - Int(log10(value).rounded(.down)))
        return String(format: "%.\(min(decimals, 9))f", value)
    }
}
