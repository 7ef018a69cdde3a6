/// Which configuration changes a checkpoint can carry across: the model, seed, global batch,
/// training data and the optimizer's kind and state layout must match; learning rates, schedules,
/// epochs, logging and the number of ranks may change.
enum CheckpointCompatibility {
    /// The first difference between two configurations that a checkpoint cannot carry across, or nil.
    static func difference(saved: TrainConfig, current: TrainConfig) -> String? {
        if saved.model != current.model { return "model (its layers or transformer) differs from the checkpoint's" }
        if saved.seed != current.seed { return "seed is \(current.seed), the checkpoint's is \(saved.seed)" }
        if saved.training.batchSize != current.training.batchSize {
            return "training.batchSize is \(current.training.batchSize), the checkpoint's is \(saved.training.batchSize)"
        }
        if saved.data.trainImages != current.data.trainImages || saved.data.trainLabels != current.data.trainLabels {
            return "data.trainImages / data.trainLabels differ from the checkpoint's"
        }
        if saved.data.text != current.data.text { return "data.text differs from the checkpoint's" }
        if saved.data.context != current.data.context { return "data.context is \(current.data.context), the checkpoint's is \(saved.data.context)" }
        let (old, new) = (saved.optimizer, current.optimizer)
        if old.type != new.type { return "optimizer.type is \(new.type.rawValue), the checkpoint's is \(old.type.rawValue)" }
        if (old.momentum > 0) != (new.momentum > 0) { return "optimizer.momentum switches momentum \(new.momentum > 0 ? "on" : "off")" }
        if old.type == .spectral || old.type == .eigenShampoo {
            if old.grafting != new.grafting { return "optimizer.grafting is \(new.grafting.rawValue), the checkpoint's is \(old.grafting.rawValue)" }
            let (a, b) = (old.preconditioner, new.preconditioner)
            if a.mode != b.mode { return "optimizer.preconditioner.mode is \(b.mode.rawValue), the checkpoint's is \(a.mode.rawValue)" }
            // A run resolves "auto" before this comparison (to the checkpoint's number when resuming).
            if a.factorDimensionLimit != b.factorDimensionLimit {
                return "optimizer.preconditioner.maxFactorDimension is \(b.factorDimensionLimit), the checkpoint's is \(a.factorDimensionLimit)"
            }
            if a.largeDimensions != b.largeDimensions { return "optimizer.preconditioner.largeDimensions differs from the checkpoint's" }
        }
        return nil
    }
}
