import Foundation
import FoundationXML
@testable import Plotting
import Testing
@testable import Train

@Suite("MetricsPlot")
struct MetricsPlotTests {
    @Test("a run folder loads with its name and every record")
    func loadsRunFolder() throws {
        let folder = try ScratchFolder()
        let records = syntheticRun(lines: 12, testEvery: 4, scale: 1)
        let run = try folder.writeRun("fashion-mlp", records)
        let loaded = try MetricsPlot.load(runFolder: run)
        #expect(loaded.name == "fashion-mlp")
        #expect(loaded.records == records)
        #expect(try MetricsPlot.load(runFolder: run + "/").name == "fashion-mlp")
    }

    @Test("a singular factor's infinite condition number and a NaN loss are written and read back")
    func nonFiniteValuesRoundTrip() throws {
        let folder = try ScratchFolder()
        var records = syntheticRun(lines: 3, testEvery: nil, scale: 1)
        records[1].loss = .nan
        records[2].health = ["1_linear.weight/block0.L": FactorHealthRecord(
            orthogonalityError: 1e-7, minEigenvalue: 0, maxEigenvalue: 2, conditionNumber: .infinity, failures: 1)]
        let run = folder.path + "/singular"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        do {
            let writer = try MetricsWriter(path: run + "/metrics.jsonl", append: false)
            for record in records { try writer.write(record) }
        }
        let loaded = try MetricsPlot.load(runFolder: run).records
        #expect(loaded.count == 3)
        #expect(loaded[1].loss.isNaN)
        #expect(loaded[2].health?["1_linear.weight/block0.L"]?.conditionNumber == .infinity)
        #expect(loaded[0] == records[0])
        #expect(loaded[2] == records[2])
    }

    @Test("the SVG is well-formed XML with one curve per run in each panel that has its data")
    func wellFormedWithCurvesPerRun() throws {
        let runs = [
            (name: "shampoo", records: syntheticRun(lines: 30, testEvery: 5, scale: 1)),
            (name: #"a<b> & "c""#, records: syntheticRun(lines: 20, testEvery: 4, scale: 1.5)),
            (name: "no-test", records: syntheticRun(lines: 10, testEvery: nil, scale: 2)),
        ]
        let svg = MetricsPlot.svg(runs: runs)
        let document = try ParsedSVG(svg)

        #expect(document.panels.count == 3)
        #expect(document.panels.map(\.polylines.count) == [3, 2, 2])
        #expect(document.panels.map(\.title) == ["training loss", "test loss", "test accuracy (%)"])
        #expect(document.legend == runs.map(\.name))
        #expect(svg.contains("a&lt;b&gt; &amp; &quot;c&quot;"))
        #expect(!svg.contains(#"a<b>"#))

        let colours = document.panels[0].polylines.map(\.stroke)
        #expect(Set(colours).count == 3)
        #expect(document.panels[1].polylines.map(\.stroke) == [colours[0], colours[1]])
        #expect(document.panels[0].polylines.map(\.points.count) == [30, 20, 10])
        #expect(document.panels[1].polylines.map(\.points.count) == [6, 5])
    }

    @Test("every point lies inside its panel's plot area", arguments: MetricsPlot.XAxis.allCases)
    func pointsInsidePlotArea(xAxis: MetricsPlot.XAxis) throws {
        let runs = [
            (name: "fast", records: syntheticRun(lines: 25, testEvery: 3, scale: 1)),
            (name: "slow", records: syntheticRun(lines: 40, testEvery: 8, scale: 3)),
        ]
        let document = try ParsedSVG(MetricsPlot.svg(runs: runs, xAxis: xAxis, width: 900, height: 360))
        for panel in document.panels {
            let area = try #require(panel.plotArea)
            #expect(area.width > 0 && area.height > 0)
            for polyline in panel.polylines {
                #expect(!polyline.points.isEmpty)
                for point in polyline.points {
                    #expect(point.x >= area.minX - 0.01 && point.x <= area.maxX + 0.01, "x \(point.x) outside \(area) in \(panel.title)")
                    #expect(point.y >= area.minY - 0.01 && point.y <= area.maxY + 0.01, "y \(point.y) outside \(area) in \(panel.title)")
                }
            }
        }
    }

    @Test("the same runs give the same bytes, read from disk or not")
    func deterministic() throws {
        let folder = try ScratchFolder()
        let first = syntheticRun(lines: 15, testEvery: 5, scale: 1)
        let second = syntheticRun(lines: 9, testEvery: 3, scale: 2)
        let loaded = [
            try MetricsPlot.load(runFolder: try folder.writeRun("first", first)),
            try MetricsPlot.load(runFolder: try folder.writeRun("second", second)),
        ]
        let direct = [(name: "first", records: first), (name: "second", records: second)]
        let svg = MetricsPlot.svg(runs: direct, xAxis: .step)
        #expect(MetricsPlot.svg(runs: direct, xAxis: .step) == svg)
        #expect(MetricsPlot.svg(runs: loaded, xAxis: .step) == svg)
        #expect(MetricsPlot.svg(runs: direct, xAxis: .seconds) != svg)
    }

    @Test("non-finite values are skipped")
    func skipsNonFiniteValues() throws {
        var records = syntheticRun(lines: 10, testEvery: 2, scale: 1)
        records[3].loss = .nan
        records[5].loss = .infinity
        records[3].testLoss = .nan
        records[5].testAccuracy = -.infinity
        let svg = MetricsPlot.svg(runs: [(name: "diverging", records: records)])
        let document = try ParsedSVG(svg)
        #expect(document.panels.map(\.polylines.first?.points.count) == [8, 4, 4])
        #expect(!svg.lowercased().contains("nan") && !svg.lowercased().contains("inf"))
    }

    @Test("runs of character language models (tokens/s logged) get validation panels with losses in nats per character")
    func characterModelTitles() throws {
        let text = syntheticRun(lines: 8, testEvery: 2, scale: 1).map { record in
            var record = record
            record.tokensPerSecond = 128 * record.samplesPerSecond
            return record
        }
        let titles = try ParsedSVG(MetricsPlot.svg(runs: [(name: "lm", records: text)], xAxis: .seconds)).panels.map(\.title)
        #expect(titles == ["training loss (nats/char)", "validation loss (nats/char)", "validation accuracy (%)"])
        // Mixed with an image run, the panels keep the general titles.
        let mixed = try ParsedSVG(MetricsPlot.svg(runs: [(name: "lm", records: text), (name: "mlp", records: syntheticRun(lines: 8, testEvery: 2, scale: 1))]))
        #expect(mixed.panels.map(\.title) == ["training loss", "test loss", "test accuracy (%)"])
    }

    @Test("a loss spanning more than 1.5 decades is drawn on a log axis; accuracy never is")
    func logarithmicLossAxis() throws {
        let wide = syntheticRun(lines: 20, testEvery: 2, scale: 1).enumerated().map { index, record in
            var record = record
            record.loss = 3 * pow(10, -Double(index) / 5)
            return record
        }
        let titles = try ParsedSVG(MetricsPlot.svg(runs: [(name: "wide", records: wide)])).panels.map(\.title)
        #expect(titles == ["training loss, log scale", "test loss", "test accuracy (%)"])
    }

    @Test("no runs, a single line or a constant curve still give well-formed panels")
    func degenerateInputs() throws {
        var constant = syntheticRun(lines: 6, testEvery: 2, scale: 1)
        for index in constant.indices { constant[index].loss = 0.5 }
        let cases: [[(name: String, records: [MetricsRecord])]] = [
            [],
            [(name: "one", records: syntheticRun(lines: 1, testEvery: 1, scale: 1))],
            [(name: "flat", records: constant)],
        ]
        for runs in cases {
            let svg = MetricsPlot.svg(runs: runs, width: 300, height: 150)
            let document = try ParsedSVG(svg)
            #expect(document.panels.count == 3)
            #expect(document.panels.map(\.polylines.count) == [runs.count, runs.count, runs.count])
            #expect(svg.contains("no data") == runs.isEmpty)
            for panel in document.panels {
                let area = try #require(panel.plotArea)
                for point in panel.polylines.flatMap(\.points) {
                    #expect(point.x >= area.minX - 0.01 && point.x <= area.maxX + 0.01 && point.y >= area.minY - 0.01 && point.y <= area.maxY + 0.01)
                }
            }
        }
    }

    @Test("run colours cycle through a fixed palette")
    func paletteCycles() throws {
        let runs = (0..<10).map { (name: "run\($0)", records: syntheticRun(lines: 4, testEvery: nil, scale: 1 + Double($0))) }
        let strokes = try ParsedSVG(MetricsPlot.svg(runs: runs)).panels[0].polylines.map(\.stroke)
        #expect(strokes.count == 10)
        #expect(Set(strokes.prefix(8)).count == 8)
        #expect(strokes[8] == strokes[0] && strokes[9] == strokes[1])
    }

    @Test("a missing run folder is one line naming it")
    func missingFolder() throws {
        let folder = try ScratchFolder()
        let path = folder.path + "/nowhere"
        #expect(loadError(path) == "\(path): no such run folder")
    }

    @Test("a run folder without metrics.jsonl is one line naming the file")
    func missingMetrics() throws {
        let folder = try ScratchFolder()
        let run = folder.path + "/empty-run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        #expect(loadError(run) == "\(run)/metrics.jsonl: missing; the run folder holds no metrics")
    }

    @Test("a line that is not JSON is reported by number")
    func invalidJSONLine() throws {
        let folder = try ScratchFolder()
        let good = try syntheticRun(lines: 2, testEvery: nil, scale: 1).map(jsonLine)
        let run = try folder.writeRun("broken", text: good.joined() + "{\"step\": 300, \"loss\":\n")
        #expect(loadError(run) == "\(run)/metrics.jsonl: line 3: not valid JSON")
    }

    @Test("a last line cut short (full disk, killed process) is skipped with one note; the rest is drawn")
    func partialLastLine() throws {
        let folder = try ScratchFolder()
        let records = syntheticRun(lines: 3, testEvery: nil, scale: 1)
        let text = try records.map(jsonLine).joined()
        let run = try folder.writeRun("cut-short", text: text + String(try jsonLine(records[0]).prefix(25)))
        var notes: [String] = []
        let loaded = try MetricsPlot.load(runFolder: run) { notes.append($0) }
        #expect(loaded.records == records)
        #expect(notes == ["\(run)/metrics.jsonl: line 4: skipped, cut short (no newline at the end of the file: its write did not finish)"])
    }

    @Test("an invalid UTF-8 byte is one line naming the file, the line and the byte")
    func invalidUTF8Line() throws {
        let folder = try ScratchFolder()
        let good = try syntheticRun(lines: 3, testEvery: nil, scale: 1).map(jsonLine)
        var bytes = Data(good.joined().utf8)
        bytes.insert(0xFE, at: good[0].utf8.count + 4)
        let run = try folder.writeRun("binary", text: "")
        try bytes.write(to: URL(fileURLWithPath: run + "/metrics.jsonl"))
        #expect(loadError(run) == "\(run)/metrics.jsonl: line 2: not UTF-8 (byte 0xFE at column 5)")
    }

    @Test("a JSON line that is not a metrics record names the line and the field")
    func notARecordLine() throws {
        let folder = try ScratchFolder()
        let good = try syntheticRun(lines: 2, testEvery: nil, scale: 1).map(jsonLine)
        let run = try folder.writeRun("partial", text: good.joined() + "{\"step\": 300}\n")
        #expect(loadError(run) == "\(run)/metrics.jsonl: line 3: not a metrics record (missing field 'epoch')")
    }

    @Test("an empty metrics file is one line naming it")
    func emptyMetrics() throws {
        let folder = try ScratchFolder()
        let run = try folder.writeRun("fresh", text: "\n")
        #expect(loadError(run) == "\(run)/metrics.jsonl: no records; the run has not logged a step yet")
    }
}

/// A run of `lines` logging steps with a falling loss and rising accuracy, `scale` stretching
/// the loss and time; every `testEvery`-th line carries test values.
private func syntheticRun(lines: Int, testEvery: Int?, scale: Double) -> [MetricsRecord] {
    (1...lines).map { line in
        let progress = Double(line) / Double(lines)
        let tested = testEvery.map { line % $0 == 0 } ?? false
        return MetricsRecord(
            step: 100 * line, epoch: 0.25 * Double(line), loss: scale * (0.3 + 0.9 / Double(line)),
            accuracy: 0.6 + 0.3 * progress, learningRate: 0.001, samplesPerSecond: 5000,
            elapsedSeconds: 2.5 * scale * Double(line), time: StepTimes(),
            testLoss: tested ? scale * (0.35 + 0.8 / Double(line)) : nil,
            testAccuracy: tested ? 0.55 + 0.35 * progress : nil,
            skippedSteps: 0, health: nil)
    }
}

private func jsonLine(_ record: MetricsRecord) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(record), as: UTF8.self) + "\n"
}

/// The message of the `TrainError` loading `folder` throws, or nil when it loads.
private func loadError(_ folder: String) -> String? {
    do {
        _ = try MetricsPlot.load(runFolder: folder)
        return nil
    } catch {
        return error.message
    }
}

/// A fresh temporary folder holding run folders, removed when the value is released.
private final class ScratchFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-plot-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Creates the run folder `name` with `records` as its metrics.jsonl and returns its path.
    func writeRun(_ name: String, _ records: [MetricsRecord]) throws -> String {
        try writeRun(name, text: records.map(jsonLine).joined())
    }

    func writeRun(_ name: String, text: String) throws -> String {
        let run = path + "/" + name
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: run + "/metrics.jsonl"))
        return run
    }
}

/// What the tests look at in a plot: per panel its title, plot area and curves, and the legend's
/// names. Initialising fails unless the text is well-formed XML.
private struct ParsedSVG {
    struct Polyline {
        var stroke: String
        var points: [(x: Double, y: Double)]
    }

    struct Panel {
        var title = ""
        var plotArea: (minX: Double, minY: Double, maxX: Double, maxY: Double, width: Double, height: Double)?
        var polylines: [Polyline] = []
    }

    var panels: [Panel] = []
    var legend: [String] = []

    init(_ svg: String) throws {
        let reader = Reader()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = reader
        guard parser.parse() else {
            throw NotWellFormed(line: parser.lineNumber, reason: String(describing: parser.parserError))
        }
        #expect(reader.root == "svg")
        panels = reader.panels
        legend = reader.legend
    }

    struct NotWellFormed: Error {
        var line: Int
        var reason: String
    }

    private final class Reader: NSObject, XMLParserDelegate {
        var root: String?
        var panels: [Panel] = []
        var legend: [String] = []
        var group: String?
        var textDepth = 0
        var text = ""
        var titleSeen = false

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if root == nil { root = name }
            switch name {
            case "g":
                group = attributes["class"]
                if group == "panel" {
                    panels.append(Panel())
                    titleSeen = false
                }
            case "rect" where attributes["class"] == "plot-area":
                let x = Double(attributes["x"] ?? "") ?? .nan
                let y = Double(attributes["y"] ?? "") ?? .nan
                let width = Double(attributes["width"] ?? "") ?? .nan
                let height = Double(attributes["height"] ?? "") ?? .nan
                panels[panels.count - 1].plotArea = (x, y, x + width, y + height, width, height)
            case "polyline" where group == "panel":
                let points = (attributes["points"] ?? "").split(separator: " ").map { pair in
                    let parts = pair.split(separator: ",").map { Double($0) ?? .nan }
                    return (x: parts.first ?? .nan, y: parts.count == 2 ? parts[1] : .nan)
                }
                panels[panels.count - 1].polylines.append(Polyline(stroke: attributes["stroke"] ?? "", points: points))
            case "text":
                text = ""
                textDepth += 1
            default:
                break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if textDepth > 0 { text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard name == "text" else { return }
            textDepth -= 1
            if group == "legend" {
                legend.append(text)
            } else if group == "panel" && !titleSeen {
                panels[panels.count - 1].title = text
                titleSeen = true
            }
        }
    }
}

@Suite("SearchPlot")
struct SearchPlotTests {
    /// An es run's log as `spectrain es --run` writes it: per method, per iteration, f(mean)
    /// falling, sigma shrinking; exact xNES has no free condition (null).
    static func esLog(methods: [String], iterations: Int) -> String {
        var lines: [String] = []
        var step = 0
        for method in methods {
            for iteration in 1...iterations {
                step += 1
                let value = 100 * Foundation.pow(0.8, Double(iteration))
                let condition = method == "xnes" ? "" : #","condition":\#(1 + Double(iteration))"#
                lines.append(#"{"bestValue":\#(value / 2)\#(condition),"elapsedSeconds":\#(0.01 * Double(iteration)),"evaluations":\#(10 * iteration),"iteration":\#(iteration),"meanValue":\#(value),"method":"\#(method)","population":10,"restart":0,"step":\#(step),"stepSize":\#(Foundation.pow(0.9, Double(iteration)))}"#)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("an es run folder loads; the SVG has four panels, one curve per run and method, every point inside")
    func drawsSearchRuns() throws {
        let folder = try ScratchFolder()
        let first = folder.path + "/es-first"
        let second = folder.path + "/es-second"
        for (run, methods) in [(first, ["cma", "spectral", "xnes"]), (second, ["cma"])] {
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try Self.esLog(methods: methods, iterations: 20).write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        }
        let runs = [try SearchPlot.load(runFolder: first), try SearchPlot.load(runFolder: second)]
        #expect(runs[0].records.count == 60 && runs[1].records.count == 20)
        let svg = SearchPlot.svg(runs: runs)
        #expect(SearchPlot.svg(runs: runs) == svg)
        let document = try ParsedSVG(svg)
        // Log scales where the data span more than 1.5 decades (f falls 1e-2 here, sigma 1e-1).
        #expect(document.panels.map(\.title) == ["f(mean), log scale", "best sample f, log scale", "step size sigma", "condition of C"])
        #expect(document.legend == ["es-first cma", "es-first spectral", "es-first xnes", "es-second"])
        // Exact xNES logs no condition: three curves there, four elsewhere.
        #expect(document.panels.map(\.polylines.count) == [4, 4, 4, 3])
        for panel in document.panels {
            let area = try #require(panel.plotArea)
            for polyline in panel.polylines {
                #expect(polyline.points.count == 20)
                for point in polyline.points {
                    #expect(point.x >= area.minX - 0.01 && point.x <= area.maxX + 0.01 && point.y >= area.minY - 0.01 && point.y <= area.maxY + 0.01)
                }
            }
        }
    }

    @Test("a training record or a line that is no record in an es log is one line naming it")
    func rejectsForeignLines() throws {
        let folder = try ScratchFolder()
        let run = folder.path + "/es"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let log = Self.esLog(methods: ["cma"], iterations: 2) + #"{"step":3,"method":"cma"}"# + "\n"
        try log.write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        #expect {
            _ = try SearchPlot.load(runFolder: run)
        } throws: { error in
            "\(error)" == "\(run)/metrics.jsonl: line 3: neither a training nor an es metrics record"
        }
    }
}
