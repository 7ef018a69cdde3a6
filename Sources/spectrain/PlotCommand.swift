import ArgumentParser
import Foundation
import Plotting
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
            """)

    @Argument(help: ArgumentHelp("Run folders, each holding metrics.jsonl.", valueName: "run-folder"))
    var runFolders: [String]

    @Option(name: [.short, .long], help: ArgumentHelp("The SVG file to write: a new file or an earlier plot, never an input.", valueName: "path"))
    var output = "runs/plot.svg"

    @Option(name: .customLong("x"), help: ArgumentHelp("The horizontal axis: epoch, step, or seconds (elapsed, evaluation included).", valueName: "axis"))
    var xAxis: MetricsPlot.XAxis = .epoch

    func validate() throws {
        guard !runFolders.isEmpty else { throw ValidationError("give at least one run folder") }
    }

    func run() throws {
        try PlotOutput.check(output, inputs: runFolders.map { MetricsPlot.metricsPath(runFolder: $0) })
        let runs = try runFolders.map { folder throws(TrainError) in try MetricsPlot.load(runFolder: folder) { Job.printError("spectrain: note: \($0)") } }
        try PlotOutput.write(MetricsPlot.svg(runs: runs, xAxis: xAxis), to: output)
        Job.printLine("wrote \(output) (\(runs.count) run\(runs.count == 1 ? "" : "s"))")
    }
}

extension MetricsPlot.XAxis: ExpressibleByArgument {}
