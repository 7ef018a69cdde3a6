import Checkpoint

/// Whether a checkpoint's model was healthy when it was saved, as its manifest records it: only a
/// healthy checkpoint becomes `latest`, and the healthy one with the lowest recent training loss
/// is `best` (docs/reliability.md, "Divergence").
package struct CheckpointHealth: Codable, Sendable, Equatable {
    package var healthy: Bool
    /// Why not, when not.
    package var reason: String?
    /// The divergence rule's recent training loss at the checkpoint (its score for `best`).
    package var recentLoss: Double?
    /// Whether it became the run's best when it was written.
    package var best: Bool

    /// The first tensor of `contents` holding a value that is not finite, described; nil if none.
    static func nonFiniteTensor(in contents: CheckpointContents) -> String? {
        for tensor in contents.model + contents.optimizer {
            guard let values = tensor.realValues else { continue }
            if let index = values.firstIndex(where: { !$0.isFinite }) {
                return "tensor '\(tensor.name)' holds \(values[index]) at element \(index)"
            }
        }
        return nil
    }
}
