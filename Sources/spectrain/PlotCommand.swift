import ArgumentParser
import Foundation
import DistributedSearch
import GradientFree
import Plotting
import Support
import Train

/// `spectrain plot RUN...`: the training loss, test loss and test accuracy of several runs drawn
/// into one SVG, so runs can be compared at a glance. Local only: no MPI, no BLAS.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw loss and accuracy curves of runs into one SVG",
        discussion: """
            Each run folder holds the metrics.jsonl that spectrain train wrote, e.g.
              spectrain plot runs/fashion-mlp runs/mlp-adamw --x seconds -o runs/compare.svg
            or that spectrain es --run wrote (f(mean), best sample, step size and condition of C per method), e.g.
              spectrain plot runs/es-rosenbrock --x evaluations -o runs/es.svg
            """)

    @Argument(help: ArgumentHelp("Run folders, each holding metrics.jsonl.", valueName: "run-folder"))
    var runFolders: [String]

    @Option(name: [.short, .long], help: ArgumentHelp("The SVG file to write: a new file or an earlier plot, never an input.", valueName: "path"))
    var output = "runs/plot.svg"

    @Option(name: .customLong("x"), help: ArgumentHelp(
        "The horizontal axis: epoch (default), step, or seconds (elapsed, evaluation included); for es runs evaluations (default) or seconds.",
        valueName: "axis"))
    var xAxis: String?

    func validate() throws {
        guard !runFolders.isEmpty else { throw ValidationError("give at least one run folder") }
    }

    func run() throws {
        try PlotOutput.check(output, inputs: runFolders.map { MetricsPlot.metricsPath(runFolder: $0) })
        let note = { (line: String) in Job.printError("spectrain: note: \(line)") }
        // An es run's log holds search records only; training and es runs are not drawn together.
        let searches = try runFolders.map { folder throws(TrainError) in try Self.isSearchRun(folder) }
        let svg: String
        if searches.allSatisfy({ $0 }) {
            let axis = try Self.axis(xAxis, default: SearchPlot.XAxis.evaluations, kind: "es runs")
            let runs = try runFolders.map { folder throws(TrainError) in try SearchPlot.load(runFolder: folder, note: note) }
            svg = SearchPlot.svg(runs: runs, xAxis: axis)
        } else if searches.allSatisfy({ !$0 }) {
            let axis = try Self.axis(xAxis, default: MetricsPlot.XAxis.epoch, kind: "training runs")
            let runs = try runFolders.map { folder throws(TrainError) in try MetricsPlot.load(runFolder: folder, note: note) }
            svg = MetricsPlot.svg(runs: runs, xAxis: axis)
        } else {
            let es = zip(runFolders, searches).filter(\.1).map(\.0)
            throw ValidationError("\(es.joined(separator: ", ")): es runs cannot be drawn with training runs; plot them separately")
        }
        try PlotOutput.write(svg, to: output)
        Job.printLine("wrote \(output) (\(runFolders.count) run\(runFolders.count == 1 ? "" : "s"))")
    }

    /// Whether `folder`'s metrics hold `es` search records (its first readable line decides).
    static func isSearchRun(_ folder: String) throws(TrainError) -> Bool {
        let path = MetricsPlot.metricsPath(runFolder: folder)
        guard RunFolder.exists(path) else { return false }
        for line in try MetricsLog.read(path).lines {
            switch line.content {
            case .record: return false
            case .stepOnly: return (try? NonFiniteJSON.decoder().decode(SearchRecord.self, from: line.bytes + [UInt8(ascii: " ")])) != nil
            case .blank, .partial, .unreadable: continue
            }
        }
        return false
    }

    /// The axis `given` names among `Axis`'s, or `fallback`; one line naming the choices otherwise.
    static func axis<Axis: RawRepresentable & CaseIterable>(_ given: String?, default fallback: Axis, kind: String) throws -> Axis where Axis.RawValue == String {
        guard let given else { return fallback }
        guard let axis = Axis(rawValue: given) else {
            throw ValidationError("--x \(Untrusted.quote(given)): \(kind) are drawn against \(Axis.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return axis
    }
}

