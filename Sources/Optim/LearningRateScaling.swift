import Linalg

/// The last stage of every optimizer (optax's `scale_by_learning_rate`): the direction becomes the
/// step `d <- -lr(t) d` that is added to the parameters, with the schedule's rate at step t.
public final class LearningRateScaling: StatelessTensorTransform {
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

    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        let negativeRate = -Float(schedule.rate(base: baseRate, step: step, totalSteps: totalSteps))
        timed(&timings.otherSeconds) {
            direction.scale(by: negativeRate)
        }
    }
}
