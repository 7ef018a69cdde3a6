import Linalg
import Spectral
import Support

/// One stage of an optimizer for one shard, optax style: it transforms the update direction
/// (which starts as the gradient and ends as the step added to the parameters) and keeps its own
/// explicit state.
///
/// `OptimizerRecipe` chains stages into the optimizers, for example preconditioning -> grafting
/// -> momentum -> weight decay -> learning rate. Each instance belongs to one shard.
public protocol TensorTransform: AnyObject {
    /// Transforms `direction` in place. `gradient` is the shard's reduced gradient, unmodified;
    /// `factoredGradient`, when the caller has it, is the same gradient as a linear layer's thin
    /// factors `dY^T X` (handed only to the first stage, whose `direction` is the gradient);
    /// `parameters` are its values before this step.
    func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings) throws(OptimizerError)
    /// The state, as named tensors (empty for stateless stages).
    func stateTensors() -> [NamedTensor]
    /// Restores the state saved by `stateTensors()`; shapes must match.
    func restore(_ saved: SavedState) throws(SavedStateError)
    /// The measured health of the stage's spectral factors (one k³ product each).
    func measureHealth() -> [(name: String, health: FactorHealth)]
}

extension TensorTransform {
    /// None: only Kronecker preconditioning has spectral factors.
    public func measureHealth() -> [(name: String, health: FactorHealth)] { [] }
}

/// A stage that transforms each element of the direction on its own (Adam's scaling, momentum,
/// weight decay, the learning rate), so that `Optimizer` can run a chain of them block by block
/// in one pass over memory, each block through every stage while it is in cache, spread over the
/// cores: the step then moves each state element through memory once instead of once per stage.
///
/// `apply` runs the same kernel over the whole direction, so both paths compute the same
/// numbers.
public protocol ElementwiseTransform: TensorTransform {
    /// Transforms the direction of the shard's elements `elements`, held at `direction`
    /// (`direction[0]` is element `elements.lowerBound`); `gradient` and `parameters` point at the
    /// same elements of the shard's gradient and of its parameters before this step. Called
    /// concurrently for disjoint ranges.
    func apply(elements: Range<Int>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int)

    /// `apply` as the first stage of a chain, whose direction would start as a copy of the
    /// gradient: reads `gradient` and overwrites `direction`, which holds nothing yet. The same
    /// numbers as copying the gradient, then `apply`; a stage overrides it to save the copy.
    func applyToGradient(elements: Range<Int>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int)

    /// `apply` as the last stage of a chain before the parameter update, folded into it: reads
    /// g from `source` (the gradient when the stage is also the first, else `direction`) and
    /// adds `scale · d` to `parameters` (`scale` is a following uniform scale, 1 when none)
    /// without writing the direction back. The same numbers as `apply`, then `p += scale d`
    /// (the product, then the sum; a product by 1 is exact); a stage overrides it to fuse the
    /// update into its own pass.
    func applyUpdating(
        elements: Range<Int>, source: UnsafePointer<Float>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
        parameters: UnsafeMutablePointer<Float>, scale: Float, step: Int)

    /// The factor `s` when the stage only multiplies every element by one number at `step`
    /// (`d <- s d`), so that as the last stage it folds into the parameter update `p += s d`
    /// (the same rounding: the product, then the sum); nil for any other stage.
    func uniformScale(step: Int) -> Float?
}

extension ElementwiseTransform {
    /// Copies the gradient into the direction, then applies the stage.
    public func applyToGradient(
        elements: Range<Int>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, parameters: UnsafePointer<Float>, step: Int
    ) {
        direction.update(from: gradient, count: elements.count)
        apply(elements: elements, direction: direction, gradient: gradient, parameters: parameters, step: step)
    }

    /// `apply` (from `source`) into `direction`, then the update.
    public func applyUpdating(
        elements: Range<Int>, source: UnsafePointer<Float>, direction: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
        parameters: UnsafeMutablePointer<Float>, scale: Float, step: Int
    ) {
        if source == UnsafePointer(direction) {
            apply(elements: elements, direction: direction, gradient: gradient, parameters: parameters, step: step)
        } else {
            applyToGradient(elements: elements, direction: direction, gradient: gradient, parameters: parameters, step: step)
        }
        for index in 0..<elements.count { parameters[index] += direction[index] * scale }
    }

    /// Not a uniform scale.
    public func uniformScale(step: Int) -> Float? { nil }
}

extension ElementwiseTransform {
    /// The kernel over the whole direction, split over the cores.
    public func apply(
        direction: inout Matrix<Float>, gradient: Matrix<Float>, factoredGradient: FactoredGradient<Float>?,
        parameters: UnsafeBufferPointer<Float>, step: Int,
        timings: inout OptimizerTimings
    ) throws(OptimizerError) {
        timed(&timings.otherSeconds) {
            direction.withUnsafeMutableBufferPointer { values in
                gradient.withUnsafeBufferPointer { gradient in
                    guard let start = values.baseAddress else { return }
                    ParallelLoop.forEachRange(count: values.count) { range in
                        apply(elements: range, direction: start + range.lowerBound, gradient: gradient.baseAddress! + range.lowerBound,
                              parameters: parameters.baseAddress! + range.lowerBound, step: step)
                    }
                }
            }
        }
    }
}

/// A stage without state: nothing to save or restore.
public protocol StatelessTensorTransform: TensorTransform {}

extension StatelessTensorTransform {
    public func stateTensors() -> [NamedTensor] { [] }

    public func restore(_ saved: SavedState) throws(SavedStateError) {}
}

/// Measures the seconds `body` takes into `seconds`.
@inline(__always)
func timed<Result, Failure: Error>(_ seconds: inout Double, _ body: () throws(Failure) -> Result) throws(Failure) -> Result {
    let clock = ContinuousClock()
    let start = clock.now
    defer { seconds += start.duration(to: clock.now).inSeconds }
    return try body()
}
