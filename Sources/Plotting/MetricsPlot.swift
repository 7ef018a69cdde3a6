import Foundation
import Support
import Train

/// Loss and accuracy curves of training runs, drawn as one self-contained SVG so runs can be
/// compared side by side without a plotting library.
package enum MetricsPlot {
    /// What the horizontal axis of every panel measures.
    package enum XAxis: String, CaseIterable, Sendable {
        case epoch, step
        /// `elapsedSeconds`: wall time since the start of training, evaluation included.
        case seconds

        var title: String {
            switch self {
            case .epoch: "epoch"
            case .step: "step"
            case .seconds: "elapsed seconds"
            }
        }

        func value(of record: MetricsRecord) -> Double {
            switch self {
            case .epoch: record.epoch
            case .step: Double(record.step)
            case .seconds: record.elapsedSeconds
            }
        }
    }

    /// The metrics file of the run in `runFolder`.
    package static func metricsPath(runFolder: String) -> String {
        (runFolder as NSString).appendingPathComponent("metrics.jsonl")
    }

    /// Reads `runFolder/metrics.jsonl`; the run's name is the folder's last path component.
    /// Blank lines are ignored, and a last line cut short (no newline: its write did not finish)
    /// is skipped with a line to `note`; any other line must decode as a `MetricsRecord`.
    package static func load(
        runFolder: String, note: (String) -> Void = { _ in }
    ) throws(TrainError) -> (name: String, records: [MetricsRecord]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: runFolder, isDirectory: &isDirectory) else {
            throw TrainError("\(runFolder): no such run folder")
        }
        guard isDirectory.boolValue else { throw TrainError("\(runFolder): not a folder (expected a run folder holding metrics.jsonl)") }
        let path = metricsPath(runFolder: runFolder)
        guard FileManager.default.fileExists(atPath: path) else { throw TrainError("\(path): missing; the run folder holds no metrics") }
        var records: [MetricsRecord] = []
        for line in try MetricsLog.read(path).lines {
            switch line.content {
            case .blank:
                continue
            case .record(let record):
                records.append(record)
            case .partial:
                note("\(path): line \(line.number): skipped, cut short (no newline at the end of the file: its write did not finish)")
            case .stepOnly(_, let problem), .unreadable(let problem):
                throw TrainError("\(path): line \(line.number): \(problem)")
            }
        }
        guard !records.isEmpty else { throw TrainError("\(path): no records; the run has not logged a step yet") }
        return (URL(fileURLWithPath: runFolder).standardizedFileURL.lastPathComponent, records)
    }

    /// An SVG of three side-by-side panels (training loss, test loss, test accuracy in percent;
    /// for character language models the validation loss and accuracy, losses in nats per character)
    /// with one curve per run, a shared horizontal axis and a legend. Test panels use the lines
    /// that carry test values; non-finite values are skipped. A loss axis is logarithmic when its
    /// data spans more than 1.5 decades. The same input always gives the same bytes.
    package static func svg(runs: [(name: String, records: [MetricsRecord])], xAxis: XAxis = .epoch, width: Int = 1100, height: Int = 420) -> String {
        let width = max(width, 360)
        let height = max(height, 200)
        // Language models log tokens/s; their test values are on the validation text, per character.
        let characterModels = !runs.isEmpty && runs.allSatisfy { $0.records.contains { $0.tokensPerSecond != nil } }
        let (evaluation, unit) = characterModels ? ("validation", " (nats/char)") : ("test", "")
        let panels = [
            Panel(title: "training loss\(unit)", logAllowed: true, series: runs.map { run in
                run.records.map { (xAxis.value(of: $0), $0.loss) }
            }),
            Panel(title: "\(evaluation) loss\(unit)", logAllowed: true, series: runs.map { run in
                run.records.compactMap { record in record.testLoss.map { (xAxis.value(of: record), $0) } }
            }),
            Panel(title: "\(evaluation) accuracy (%)", logAllowed: false, series: runs.map { run in
                run.records.compactMap { record in record.testAccuracy.map { (xAxis.value(of: record), 100 * $0) } }
            }),
        ]
        return render(panels: panels, names: runs.map(\.name), xTitle: xAxis.title, width: width, height: height)
    }

    /// The SVG of `panels` side by side, sharing the horizontal axis, with a legend of `names`
    /// (one per series index, coloured alike in every panel).
    static func render(panels: [Panel], names: [String], xTitle: String, width: Int, height: Int) -> String {
        let width = max(width, 360)
        let height = max(height, 200)
        let xValues = panels.flatMap { $0.series.flatMap { $0.map(\.x) } }
        let xScale = AxisScale.linear(xValues)

        let legend = Legend(names: names, width: Double(width) - 2 * Layout.outer)
        let panelWidth = (Double(width) - 2 * Layout.outer) / Double(panels.count)
        let panelHeight = Double(height) - 2 * Layout.outer - legend.height

        var svg = SVGText()
        svg.line(openingStart + #"\#(width)" height="\#(height)" viewBox="0 0 \#(width) \#(height)""# + openingEnd)
        svg.line(#"<rect width="\#(width)" height="\#(height)" fill="white"/>"#)
        for (index, panel) in panels.enumerated() {
            let area = PlotArea(
                left: Layout.outer + Double(index) * panelWidth + Layout.left,
                top: Layout.outer + Layout.top,
                right: Layout.outer + Double(index + 1) * panelWidth - Layout.right,
                bottom: Layout.outer + panelHeight - Layout.bottom)
            panel.draw(into: &svg, area: area, xScale: xScale, xTitle: xTitle)
        }
        legend.draw(into: &svg, left: Layout.outer, top: Double(height) - Layout.outer - legend.height)
        svg.line("</svg>")
        return svg.text
    }

    /// The first line of every plot, around its size: how `PlotOutput` recognises a plot it may replace.
    static let openingStart = #"<svg xmlns="http://www.w3.org/2000/svg" width=""#
    static let openingEnd = #" font-family="sans-serif" font-size="11">"#

    /// Colours of the runs' curves, in order, cycling after the last.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    static func colour(_ run: Int) -> String { palette[run % palette.count] }

    /// `text` safe inside XML character data and double-quoted attributes; control characters,
    /// which XML 1.0 cannot hold, become U+FFFD.
    static func escapeXML(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            default:
                let forbidden = scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF
                escaped.unicodeScalars.append(forbidden ? "\u{FFFD}" : scalar)
            }
        }
        return escaped
    }

    /// A coordinate or length in user units, with two decimals.
    static func number(_ value: Double) -> String {
        String(format: "%.2f", value)
    }
}

/// Margins of the drawing, in SVG user units.
enum Layout {
    static let outer = 10.0
    /// Inside a panel, around its plot area: tick labels on the left, the title above, tick
    /// labels and the axis title below.
    static let left = 52.0
    static let right = 14.0
    static let top = 26.0
    static let bottom = 38.0
}

/// Accumulates the SVG one element per line.
struct SVGText {
    var text = ""

    mutating func line(_ element: String) {
        text += element
        text += "\n"
    }
}

/// The rectangle data is drawn in; SVG's y grows downwards.
struct PlotArea {
    var left: Double
    var top: Double
    var right: Double
    var bottom: Double

    var width: Double { right - left }
    var height: Double { bottom - top }
}

/// One panel: a title, one series of (x, y) points per run, axes and curves.
struct Panel {
    var title: String
    var logAllowed: Bool
    var series: [[(x: Double, y: Double)]]

    func draw(into svg: inout SVGText, area: PlotArea, xScale: AxisScale, xTitle: String) {
        let n = MetricsPlot.number
        let yScale = AxisScale.fitting(series.flatMap { $0.map(\.y) }, logAllowed: logAllowed)
        let centre = (area.left + area.right) / 2
        let titleSuffix = yScale.logarithmic ? ", log scale" : ""
        svg.line(#"<g class="panel">"#)
        svg.line(#"<text x="\#(n(centre))" y="\#(n(area.top - 10))" text-anchor="middle" font-size="13" font-weight="bold">\#(MetricsPlot.escapeXML(title + titleSuffix))</text>"#)

        for tick in yScale.ticks {
            guard let fraction = yScale.fraction(tick.value) else { continue }
            let y = area.bottom - fraction * area.height
            svg.line(##"<line x1="\##(n(area.left))" y1="\##(n(y))" x2="\##(n(area.right))" y2="\##(n(y))" stroke="#e5e5e5" stroke-width="1"/>"##)
            svg.line(##"<text x="\##(n(area.left - 6))" y="\##(n(y + 4))" text-anchor="end" fill="#333">\##(tick.label)</text>"##)
        }
        for tick in xScale.ticks {
            guard let fraction = xScale.fraction(tick.value) else { continue }
            let x = area.left + fraction * area.width
            svg.line(##"<line x1="\##(n(x))" y1="\##(n(area.top))" x2="\##(n(x))" y2="\##(n(area.bottom))" stroke="#e5e5e5" stroke-width="1"/>"##)
            svg.line(##"<text x="\##(n(x))" y="\##(n(area.bottom + 15))" text-anchor="middle" fill="#333">\##(tick.label)</text>"##)
        }
        svg.line(##"<rect class="plot-area" x="\##(n(area.left))" y="\##(n(area.top))" width="\##(n(area.width))" height="\##(n(area.height))" fill="none" stroke="#333" stroke-width="1"/>"##)
        svg.line(##"<text x="\##(n(centre))" y="\##(n(area.bottom + 31))" text-anchor="middle" fill="#333">\##(MetricsPlot.escapeXML(xTitle))</text>"##)

        var drawn = 0
        for (run, points) in series.enumerated() {
            let placed = points.compactMap { point -> (x: Double, y: Double)? in
                guard let fx = xScale.fraction(point.x), let fy = yScale.fraction(point.y) else { return nil }
                let x = area.left + min(max(fx, 0), 1) * area.width
                let y = area.bottom - min(max(fy, 0), 1) * area.height
                return (x, y)
            }
            guard !placed.isEmpty else { continue }
            drawn += 1
            let colour = MetricsPlot.colour(run)
            let coordinates = placed.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " ")
            svg.line(#"<polyline fill="none" stroke="\#(colour)" stroke-width="1.6" stroke-linejoin="round" points="\#(coordinates)"/>"#)
            // Sparse points (evaluations, or a run with one line) are marked, as a line cannot show them.
            if placed.count <= 40 {
                for point in placed {
                    svg.line(#"<circle cx="\#(n(point.x))" cy="\#(n(point.y))" r="2.5" fill="\#(colour)"/>"#)
                }
            }
        }
        if drawn == 0 {
            svg.line(##"<text x="\##(n(centre))" y="\##(n((area.top + area.bottom) / 2))" text-anchor="middle" fill="#888">no data</text>"##)
        }
        svg.line("</g>")
    }
}

/// The run names with their colours, in rows across the bottom of the drawing.
struct Legend {
    var names: [String]
    /// Where each entry starts, relative to the legend's top left corner.
    var positions: [(x: Double, y: Double)]
    var height: Double

    static let rowHeight = 18.0
    static let swatch = 22.0

    init(names: [String], width: Double) {
        self.names = names
        var positions: [(Double, Double)] = []
        var x = 0.0
        var row = 0
        for name in names {
            // Text width estimated at 6.5 units per character of the 11-unit font.
            let entryWidth = Self.swatch + 6 + 6.5 * Double(name.count) + 18
            if x > 0 && x + entryWidth > width {
                x = 0
                row += 1
            }
            positions.append((x, Double(row) * Self.rowHeight))
            x += entryWidth
        }
        self.positions = positions
        height = names.isEmpty ? 0 : Double(row + 1) * Self.rowHeight + 4
    }

    func draw(into svg: inout SVGText, left: Double, top: Double) {
        let n = MetricsPlot.number
        svg.line(#"<g class="legend">"#)
        for (run, (name, position)) in zip(names, positions).enumerated() {
            let x = left + position.x
            let y = top + position.y + Self.rowHeight / 2
            svg.line(#"<line x1="\#(n(x))" y1="\#(n(y))" x2="\#(n(x + Self.swatch))" y2="\#(n(y))" stroke="\#(MetricsPlot.colour(run))" stroke-width="3"/>"#)
            svg.line(#"<text x="\#(n(x + Self.swatch + 6))" y="\#(n(y + 4))">\#(MetricsPlot.escapeXML(name))</text>"#)
        }
        svg.line("</g>")
    }
}
