import Support

/// Where a `GlobalSampler` run stands: the next step to draw, as an epoch and a step within it.
/// Saved in checkpoints; resuming from it draws the same batches as never having stopped, as long
/// as the global batch size is unchanged (the number of ranks may differ).
package struct SamplerCursor: ConfigRecord, Sendable, Equatable, CustomStringConvertible {
    package var epoch = 0
    /// The step within `epoch`, in `0..<stepsPerEpoch`.
    package var step = 0

    /// The start of the first epoch.
    package init() {}

    package init(epoch: Int, step: Int) {
        self.epoch = epoch
        self.step = step
    }

    /// The cursor of global step `globalStep` (counted from 0 across epochs).
    package init(globalStep: Int, stepsPerEpoch: Int) {
        precondition(globalStep >= 0 && stepsPerEpoch > 0, "SamplerCursor: step \(globalStep) with \(stepsPerEpoch) steps per epoch")
        self.init(epoch: globalStep / stepsPerEpoch, step: globalStep % stepsPerEpoch)
    }

    /// The global step (counted from 0 across epochs) of this cursor.
    package func globalStep(stepsPerEpoch: Int) -> Int {
        epoch * stepsPerEpoch + step
    }

    /// Moves to the next step, into the next epoch after the last step of one.
    package mutating func advance(stepsPerEpoch: Int) {
        step += 1
        if step >= stepsPerEpoch {
            step = 0
            epoch += 1
        }
    }

    package var description: String { "epoch \(epoch), step \(step)" }

    package static let fields: [ConfigField<SamplerCursor>] = [
        .required("epoch", \.epoch),
        .required("step", \.step),
        .check { $0.epoch >= 0 && $0.step >= 0 ? nil : "epoch and step must be >= 0, got \($0.epoch) and \($0.step)" },
    ]

    package static func defaults(given _: GivenFields<SamplerCursor>) -> SamplerCursor { SamplerCursor() }
}
