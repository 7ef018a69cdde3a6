import Foundation
import Support

/// `spectrain plan --predict`: a configuration profiled here and its steps predicted by
/// `ScalingModel` on each node count, as a table, with the point where scaling stops and why.
package enum ScalingPrediction {
    /// One node count: the blocking the run would use there, and the step with and without overlap.
    package struct Row: Sendable {
        package var nodes: Int
        package var maxFactorDimension: Int
        package var overlapped: ScalingModel.Prediction
        package var waiting: ScalingModel.Prediction
        /// One node's step over this one's (overlapped).
        package var speedUp: Double
    }

    /// Profiles `config` once per blocking its node counts resolve to and predicts each count.
    package static func run(
        config: TrainConfig, model: ScalingModel, nodes: [Int], profileSteps: Int, warmup: Int, report: (String) -> Void
    ) throws(TrainError) -> [Row] {
        var profiles: [Int: StepProfile] = [:]
        func profile(ranks: Int) throws(TrainError) -> StepProfile {
            let limit = AutoBlocking.resolved(config.optimizer, shapes: try StepProfile.shapes(config), ranks: ranks).optimizer.preconditioner.maxFactorDimension
            if let known = profiles[limit] { return known }
            report("profiling \(config.name) on one rank, factors blocked at \(limit): \(profileSteps) steps after \(warmup) warm-up")
            let measured = try StepProfile.measure(config: config, ranks: ranks, steps: profileSteps, warmup: warmup)
            profiles[limit] = measured
            return measured
        }
        let single = model.predict(try profile(ranks: 1), nodes: 1, overlap: false).stepSeconds
        var rows: [Row] = []
        for count in nodes {
            let measured = try profile(ranks: count)
            let overlapped = model.predict(measured, nodes: count, overlap: true)
            rows.append(Row(
                nodes: count, maxFactorDimension: measured.optimizer.preconditioner.maxFactorDimension, overlapped: overlapped,
                waiting: model.predict(measured, nodes: count, overlap: false), speedUp: single / overlapped.stepSeconds))
        }
        return rows
    }

    /// The predictions as a table (Markdown rows with `markdown`).
    package static func table(_ rows: [Row], markdown: Bool) -> String {
        let header = ["nodes", "blocking", "step ms", "no overlap ms", "compute ms", "update ms", "exposed comm ms", "link ms",
                      "speed-up", "efficiency", "bound by"]
        let body = rows.map { row -> [String] in
            let step = row.overlapped
            return ["\(row.nodes)", "\(row.maxFactorDimension)", milliseconds(step.stepSeconds), milliseconds(row.waiting.stepSeconds),
                    milliseconds(step.computeSeconds), milliseconds(step.updateSeconds), milliseconds(step.exposedSeconds),
                    milliseconds(step.linkSeconds), String(format: "%.2f", row.speedUp),
                    String(format: "%.0f%%", 100 * row.speedUp / Double(row.nodes)), step.limit]
        }
        if markdown {
            let lines = [header, header.map { _ in "---" }] + body
            return lines.map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n")
        }
        return TextTable.render([header] + body).joined(separator: "\n")
    }

    /// Where the predicted speed-up stops growing (gaining under 10% from the previous count, or
    /// falling), and what bounds the step there.
    package static func verdict(_ rows: [Row]) -> String {
        let sorted = rows.sorted { $0.nodes < $1.nodes }
        guard let best = sorted.max(by: { $0.speedUp < $1.speedUp }) else { return "" }
        var stop: (last: Row, next: Row)?
        for (previous, row) in zip(sorted, sorted.dropFirst()) where row.speedUp < 1.1 * previous.speedUp {
            stop = (previous, row)
            break
        }
        var text = String(format: "best predicted speed-up %.2fx at %d node%@", best.speedUp, best.nodes, best.nodes == 1 ? "" : "s")
        if let (last, next) = stop {
            // What bounds the step where more nodes stop paying.
            let step = next.overlapped
            let why: String
            switch step.limit {
            case "optimizer update":
                why = String(format: "the busiest owner's optimizer update (%@ ms) no longer shrinks: its largest shard cannot be split over more ranks at blocking %d",
                             milliseconds(step.updateSeconds), next.maxFactorDimension)
            case "latency":
                why = String(format: "per-message latency (%@ ms a step: 2 collectives per bucket, each N - 1 ring steps) outgrows the shrinking compute",
                             milliseconds(step.latencySeconds))
            case "bandwidth":
                why = String(format: "the gradient and parameter volume (%@ ms a step on the link) stays while compute shrinks",
                             milliseconds(step.bandwidthSeconds))
            default:
                why = "compute still dominates the step"
            }
            text += String(format: "; scaling stops at %d node%@ (speed-up %.2fx): at %d, %@", last.nodes, last.nodes == 1 ? "" : "s", last.speedUp, next.nodes, why)
        }
        return text
    }

    private static func milliseconds(_ seconds: Double) -> String {
        let value = seconds * 1000
        return value >= 100 ? String(format: "%.0f", value) : value >= 10 ? String(format: "%.1f", value) : String(format: "%.2f", value)
    }
}
