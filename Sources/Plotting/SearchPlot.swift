import Foundation
import DistributedSearch
import GradientFree
import Support
import Train

/// The progress of gradient-free runs (`spectrain es --run`) drawn as one SVG: `f(mean)`, the
/// best sample value, the step size and the condition of the covariance against evaluations
/// or time, one curve per run and method, so searches can be compared at a glance.
package enum SearchPlot {
    /// What the horizontal axis measures.
    package enum XAxis: String, CaseIterable, Sendable {
        /// Candidate evaluations of the method so far.
        case evaluations
        /// `elapsedSeconds`: wall time since the method started.
        case seconds

        var title: String { self == .evaluations ? "evaluations" : "elapsed seconds" }

        func value(of record: SearchRecord) -> Double {
            self == .evaluations ? Double(record.evaluations) : record.elapsedSeconds
        }
    }

    /// Reads the `SearchRecord`s of `runFolder/metrics.jsonl` (an `es` run); the run's name is the
    /// folder's last path component. Blank lines are ignored and a last line cut short is skipped
    /// with a line to `note`; any other line must be a search record.
    package static func load(
        runFolder: String, note: (String) -> Void = { _ in }
    ) throws(TrainError) -> (name: String, records: [SearchRecord]) {
        let path = MetricsPlot.metricsPath(runFolder: runFolder)
        let decoder = NonFiniteJSON.decoder()
        var records: [SearchRecord] = []
        for line in try MetricsLog.read(path).lines {
            switch line.content {
            case .blank:
                continue
            case .partial:
                note("\(path): line \(line.number): skipped, cut short (no newline at the end of the file: its write did not finish)")
            case .record:
                throw TrainError("\(path): line \(line.number): a training record in an es run's log")
            case .unreadable(let problem):
                throw TrainError("\(path): line \(line.number): \(problem)")
            case .stepOnly:
                // A trailing space keeps JSONDecoder's error locations inside the input (MetricsLog).
                guard let record = try? decoder.decode(SearchRecord.self, from: line.bytes + [UInt8(ascii: " ")]) else {
                    throw TrainError("\(path): line \(line.number): neither a training nor an es metrics record")
                }
                records.append(record)
            }
        }
        guard !records.isEmpty else { throw TrainError("\(path): no records; the run has not logged an iteration yet") }
        return (URL(fileURLWithPath: runFolder).standardizedFileURL.lastPathComponent, records)
    }

    /// An SVG of four side-by-side panels (f(mean), best sample value, step size sigma, condition
    /// of C, each on a log scale when its data spans more than 1.5 decades) with one curve per run
    /// and method (a method's restarts continue its curve), a shared horizontal axis and a legend.
    /// Non-finite values are skipped. The same input always gives the same bytes.
    package static func svg(runs: [(name: String, records: [SearchRecord])], xAxis: XAxis = .evaluations, width: Int = 1400, height: Int = 420) -> String {
        var names: [String] = []
        var curves: [[SearchRecord]] = []
        for run in runs {
            var methods: [String] = []
            for record in run.records where !methods.contains(record.method) { methods.append(record.method) }
            for method in methods {
                names.append(methods.count > 1 || runs.count == 1 ? "\(run.name) \(method)" : run.name)
                curves.append(run.records.filter { $0.method == method })
            }
        }
        func panel(_ title: String, _ value: @escaping (SearchRecord) -> Double?) -> Panel {
            Panel(title: title, logAllowed: true, series: curves.map { records in
                records.compactMap { record in value(record).map { (xAxis.value(of: record), $0) } }
            })
        }
        let panels = [
            panel("f(mean)") { $0.meanValue },
            panel("best sample f") { $0.bestValue },
            panel("step size sigma") { $0.stepSize },
            panel("condition of C") { $0.condition },
        ]
        return MetricsPlot.render(panels: panels, names: names, xTitle: xAxis.title, width: width, height: height)
    }
}
