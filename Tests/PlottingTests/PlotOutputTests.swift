import Foundation
@testable import Plotting
import Testing
import Train

/// `plot -o` replaces only an earlier plot: never an input, never another file.
@Suite("PlotOutput")
struct PlotOutputTests {
    /// A run folder with a metrics file and an earlier plot beside it.
    struct Setup {
        let root: String
        let metrics: String
        let plot: String

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-plot-output-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
            metrics = root + "/run/metrics.jsonl"
            try Data(#"{"step": 1}"#.utf8 + [0x0A]).write(to: URL(fileURLWithPath: metrics))
            plot = root + "/plot.svg"
            try PlotOutput.write(MetricsPlot.svg(runs: []), to: plot)
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    func refusal(_ output: String, inputs: [String]) -> String? {
        do {
            try PlotOutput.check(output, inputs: inputs)
            return nil
        } catch {
            #expect(!error.message.contains("\n"))
            return error.message
        }
    }

    @Test("a new path, an empty file and an earlier plot are accepted")
    func accepted() throws {
        let setup = try Setup()
        defer { setup.remove() }
        #expect(refusal(setup.root + "/new/plot.svg", inputs: [setup.metrics]) == nil)
        #expect(refusal(setup.plot, inputs: [setup.metrics]) == nil)
        let empty = setup.root + "/empty.SVG"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        #expect(refusal(empty, inputs: [setup.metrics]) == nil)
        // Every size draws a first line the check recognises.
        for (width, height) in [(100, 100), (1100, 420), (4000, 3000)] {
            #expect(PlotOutput.isPlot(prefix: Data(MetricsPlot.svg(runs: [], width: width, height: height).utf8.prefix(512))))
        }
    }

    @Test("a path not ending in .svg, such as the metrics file itself, is refused")
    func notSVG() throws {
        let setup = try Setup()
        defer { setup.remove() }
        let before = try Data(contentsOf: URL(fileURLWithPath: setup.metrics))
        #expect(refusal(setup.metrics, inputs: [setup.metrics]) == "\(setup.metrics): not an .svg path; the plot is an SVG file (give -o NAME.svg)")
        #expect(refusal(setup.root + "/plot.png", inputs: []) != nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: setup.metrics)) == before)
    }

    @Test("an input reached through a symbolic or a hard link is refused, naming the input")
    func inputThroughLinks() throws {
        let setup = try Setup()
        defer { setup.remove() }
        let symbolic = setup.root + "/symbolic.svg"
        try FileManager.default.createSymbolicLink(atPath: symbolic, withDestinationPath: setup.metrics)
        #expect(refusal(symbolic, inputs: [setup.root + "/other.jsonl", setup.metrics]) == "\(symbolic): is \(setup.metrics), which the plot reads; choose another output path")
        let hard = setup.root + "/hard.svg"
        try FileManager.default.linkItem(atPath: setup.metrics, toPath: hard)
        #expect(refusal(hard, inputs: [setup.metrics]) == "\(hard): is \(setup.metrics), which the plot reads; choose another output path")
        // Even when the input is named through a link to its folder.
        let folderLink = setup.root + "/alias"
        try FileManager.default.createSymbolicLink(atPath: folderLink, withDestinationPath: setup.root + "/run")
        #expect(refusal(symbolic, inputs: [folderLink + "/metrics.jsonl"])?.contains("which the plot reads") == true)
    }

    @Test("an existing file that is not a plot, a folder and a FIFO are refused without reading them whole or blocking")
    func otherFiles() throws {
        let setup = try Setup()
        defer { setup.remove() }
        let drawing = setup.root + "/drawing.svg"
        try Data(#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>"#.utf8).write(to: URL(fileURLWithPath: drawing))
        #expect(refusal(drawing, inputs: [setup.metrics]) == "\(drawing): exists and is not a plot spectrain drew; refusing to replace it (remove it or choose another path)")
        let folder = setup.root + "/folder.svg"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(refusal(folder, inputs: []) == "\(folder): exists and is not a regular file; refusing to replace it")
        let fifo = setup.root + "/fifo.svg"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(refusal(fifo, inputs: []) == "\(fifo): exists and is not a regular file; refusing to replace it")
    }
}
