import Linalg

/// The last stage of every optimizer (optax's `scale_by_learning_rate`): the direction becomes the
/// step `d <- -lr(t) d` that is added to the parameters, with the schedule's rate at step t.
public final class LearningRateScaling: StatelessTensorTransform, ElementwiseTransform {
    /// How the rate varies with the step.
    public let schedule: LearningRateSchedule
    /// The base rate the schedule scales (`OptimizerConfig.learningRate`).
    public let baseRate: Double
    /// The schedule's horizon.
    public let totalSteps: Int

    /// The stage scaling by `schedule`'s rate for `baseRate`, over a horizon of `totalSteps` steps.
    public init(schedule: LearningRateSchedule, baseRate: Double, totalSteps: Int) {
        self.schedule = schedule
        self.baseRate = baseRate
        self.totalSteps = totalSteps
    }

    public func apply(elements: Range<Int>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int) {
        let negativeRate = negativeRate(step: step)
        for index in 0..<elements.count { direction[index] *= negativeRate }
    }

    /// `-lr(t)`, rounded to Float32: the factor of `d <- -lr(t) d`.
    public func negativeRate(step: Int) -> Float {
        -Float(schedule.rate(base: baseRate, step: step, totalSteps: totalSteps))
    }

    /// The stage only scales: by `negativeRate(step:)`.
    public func uniformScale(step: Int) -> Float? { negativeRate(step: step) }
}
