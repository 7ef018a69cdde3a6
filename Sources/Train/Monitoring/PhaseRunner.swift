import Cluster
import Foundation
import NN
import Optim
import Support

/// A named part of a training step, as the step time split, the stall watchdog and fault
/// injection see it.
enum StepPhase {
    case data, forward, backward
    case gradientExchange, optimizerUpdate, parameterExchange
    case checks, factorHealth, evaluation, checkpoint

    /// How the watchdog names the phase when a rank stalls in it ("stuck in the ... step 6").
    var watchdogLabel: StaticString {
        switch self {
        case .data, .forward, .backward: "forward and backward of"
        case .gradientExchange: "gradient exchange of"
        case .optimizerUpdate: "optimizer update of"
        case .parameterExchange: "parameter exchange of"
        case .checks, .factorHealth: "checks after"
        case .evaluation: "evaluation after"
        case .checkpoint: "checkpoint save after"
        }
    }

    /// Where the phase's wall time goes; nil for the optimizer update, whose time the optimizer
    /// splits itself (curvature, preconditioning, the rest), and for factor health, which is not timed.
    var timeField: WritableKeyPath<StepTimes, Double>? {
        switch self {
        case .data: \.data
        case .forward: \.forward
        case .backward: \.backward
        case .gradientExchange, .parameterExchange, .checks: \.communication
        case .optimizerUpdate, .factorHealth: nil
        case .evaluation: \.evaluation
        case .checkpoint: \.checkpoint
        }
    }
}

/// Runs the phases of training steps: the one place where the work is timed, the stall watchdog
/// is told which phase each rank is in, and injected faults fire. The step itself stays a list
/// of phases with no timing or test hooks in between.
final class PhaseRunner {
    /// Time spent per phase since the last `takeTimes()`.
    private(set) var times = StepTimes()
    private let watchdog: StallWatchdog?
    private let faults: FaultInjection
    private let rank: Int
    private let parameters: ParameterStore<Float>
    private let clock = ContinuousClock()

    /// `watchdog` is nil on one rank; `parameters` is the store a replica perturbation changes.
    init(watchdog: StallWatchdog?, faults: FaultInjection, rank: Int, parameters: ParameterStore<Float>) {
        self.watchdog = watchdog
        self.faults = faults
        self.rank = rank
        self.parameters = parameters
    }

    /// Runs `body` as `phase` of step `step` (counted from 1).
    @inline(__always)
    func run<Result, Failure: Error>(_ phase: StepPhase, step: Int, _ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        beat(phase, step: step)
        injectFault(entering: phase, step: step)
        let start = clock.now
        defer {
            if let field = phase.timeField { times[keyPath: field] += start.duration(to: clock.now).inSeconds }
        }
        return try body()
    }

    /// Tells the watchdog that `phase` of `step` is making progress (inside long phases).
    func beat(_ phase: StepPhase, step: Int) {
        watchdog?.beat(step: step, phase: phase.watchdogLabel)
    }

    /// Adds the optimizer's own split of the update time.
    func record(_ timings: OptimizerTimings) {
        times.curvature += timings.curvatureSeconds
        times.precondition += timings.preconditionSeconds
        times.optimizer += timings.otherSeconds
    }

    /// Books the gradient exchange's time: with overlap, the time the rank was blocked by it inside
    /// forward, backward and the update moves to communication, and the in-flight time it was not
    /// blocked is the hidden communication.
    func record(_ exchange: ExchangeTiming, overlapped: Bool) {
        guard overlapped else { return }
        times.forward -= exchange.blocked.forward
        times.backward -= exchange.blocked.backward
        times.communication += exchange.blocked.forward + exchange.blocked.backward + exchange.blocked.update
        times.communicationHidden += exchange.hiddenSeconds
    }

    /// Returns the times since the last call and starts a new accumulation.
    func takeTimes() -> StepTimes {
        defer { times = StepTimes() }
        return times
    }

    /// Whether a replica perturbation fault changes this rank's parameters entering the checks
    /// after `step`: the transfers in flight must be settled first, as they write the parameters.
    func perturbsReplica(after step: Int) -> Bool {
        faults.perturbReplica.map { $0.rank == rank && $0.step == step } ?? false
    }

    private func injectFault(entering phase: StepPhase, step: Int) {
        if phase == .data, let stall = faults.stall, stall.rank == rank, stall.step == step {
            while true { Thread.sleep(forTimeInterval: 3600) }
        }
        if phase == .checks, perturbsReplica(after: step), let perturbation = faults.perturbReplica {
            parameters.values(at: perturbation.tensor)[0] += 1
        }
    }
}
