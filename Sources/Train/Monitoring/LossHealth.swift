import Foundation

/// Whether the training loss says the model is still healthy: the divergence rule that decides
/// which checkpoint `latest` may name (docs/reliability.md, "Divergence").
///
/// Two exponential moving averages of the batch mean training loss: `recentLoss`, weight 0.1
/// (about the last 10 steps), and `runningLevel`, weight 0.01 (about 100 steps). The loss has
/// *spiked* while `recentLoss > divergenceFactor * runningLevel`; spiked steps do not move the
/// running level, so a blown-up loss never becomes the new normal. A step whose loss or gradient
/// is not finite is a problem until the next checkpoint. The rule starts after `warmupSteps`
/// finite steps, when the level means something.
///
/// Kept in `TrainingProgress`, so a resumed run judges exactly as an uninterrupted one.
package struct LossHealth: Codable, Sendable, Equatable {
    package var recentLoss: Double?
    package var runningLevel: Double?
    /// Finite steps seen, for the warm-up.
    package var finiteSteps = 0
    /// The step the current spike began at (nil: not spiked).
    package var spikeStartStep: Int?
    /// The first step since the last checkpoint whose loss or gradient was not finite.
    package var nonFiniteStep: Int?

    static let recentWeight = 0.1
    static let levelWeight = 0.01
    static let warmupSteps = 10

    package init() {}

    /// Counts completed step `step` (1-based), whose batch mean loss is `loss` (`finite` false
    /// when its loss or gradient was not).
    mutating func record(loss: Double, finite: Bool, step: Int, divergenceFactor: Double) {
        guard finite, loss.isFinite else {
            if nonFiniteStep == nil { nonFiniteStep = step }
            return
        }
        finiteSteps += 1
        let recent = recentLoss.map { $0 + Self.recentWeight * (loss - $0) } ?? loss
        recentLoss = recent
        guard let level = runningLevel else {
            runningLevel = loss
            return
        }
        if finiteSteps > Self.warmupSteps && recent > divergenceFactor * level {
            if spikeStartStep == nil { spikeStartStep = step }
        } else {
            spikeStartStep = nil
            runningLevel = level + Self.levelWeight * (loss - level)
        }
    }

    /// Why a checkpoint now would not be healthy by the loss, or nil if it would be. Ends the
    /// checkpoint's window (the non-finite step is forgotten once a checkpoint has recorded it).
    mutating func judgeCheckpoint(divergenceFactor: Double) -> String? {
        defer { nonFiniteStep = nil }
        if let step = nonFiniteStep { return "the loss or gradient was not finite at step \(step)" }
        if let step = spikeStartStep, let recent = recentLoss, let level = runningLevel {
            return "the loss spiked at step \(step) (recent \(Self.format(recent)), more than \(Self.format(divergenceFactor))x its running level \(Self.format(level)))"
        }
        return nil
    }

    private static func format(_ value: Double) -> String {
        value.isFinite && abs(value) < 1e6 && abs(value) >= 1e-3 ? String(format: "%.4g", value) : String(format: "%.3e", value)
    }
}
