import Foundation
import Synchronization

/// The signals that ask a run to stop cleanly (preemption): the first one is remembered and the
/// run stops at the next step boundary that every rank agrees on, after a checkpoint; a second
/// one ends the process at once, as the signal's default would.
///
/// Slurm sends one before a job's time limit (`--signal`), mpirun forwards SIGUSR1 and SIGUSR2 to
/// every rank, and Ctrl-C is SIGINT. The handler only stores the signal number (an atomic store
/// is async-signal-safe); the training loop reads it between steps.
package enum StopSignals {
    /// The exit status of a run that stopped on a signal after saving a checkpoint: EX_TEMPFAIL
    /// ("try again later"), which `launch/slurm.sbatch` and `launch/run-with-restarts.sh` take
    /// as "resume with --resume auto".
    package static let exitCode: Int32 = 75

    /// The signals taken by default.
    package static let defaultNames = ["TERM", "INT", "USR1"]

    /// The signals a user can name, without the SIG prefix.
    static let known: [String: Int32] = ["TERM": SIGTERM, "INT": SIGINT, "USR1": SIGUSR1, "USR2": SIGUSR2, "HUP": SIGHUP]

    private static let received = Atomic<Int32>(0)

    /// The signal that asked to stop, or nil.
    package static var pending: Int32? {
        let signal = received.load(ordering: .relaxed)
        return signal == 0 ? nil : signal
    }

    /// "SIGTERM" for a signal number.
    package static func name(of signal: Int32) -> String {
        known.first { $0.value == signal }.map { "SIG" + $0.key } ?? "signal \(signal)"
    }

    /// Signal numbers for names such as `TERM,INT,USR1` (also `SIGTERM`); `none` is no signal.
    package static func parse(_ list: String) throws(TrainError) -> [Int32] {
        if list.lowercased() == "none" { return [] }
        return try list.split(separator: ",").map { item throws(TrainError) in
            var name = item.trimmingCharacters(in: .whitespaces).uppercased()
            if name.hasPrefix("SIG") { name.removeFirst(3) }
            guard let number = known[name] else {
                throw TrainError("--stop-signals: '\(item.prefix(32))' is not one of \(known.keys.sorted().joined(separator: ", ")) (or none)")
            }
            return number
        }
    }

    /// Takes `signals` from now on.
    package static func install(_ signals: [Int32]) {
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                if !StopSignals.received.compareExchange(expected: 0, desired: signal, ordering: .relaxed).exchanged {
                    // The second request: stop now, as if nothing had been installed.
                    Foundation.signal(signal, SIG_DFL)
                    raise(signal)
                }
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
        // A parent may hand its blocked-signal mask down (a test harness, some launchers): a
        // blocked stop signal would wait until the run ends.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        for signal in signals { sigaddset(&unblocked, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
    }
}

/// Where a run learns that it should stop: the process's stop signals, or a test's own trigger.
package struct StopRequest: Sendable {
    /// The signal asking to stop before step `step` (0-based) begins, or nil.
    let pending: @Sendable (_ step: Int) -> Int32?

    package init(_ pending: @escaping @Sendable (_ step: Int) -> Int32?) {
        self.pending = pending
    }

    /// The signals `StopSignals.install` took.
    package static let signals = StopRequest { _ in StopSignals.pending }
}

/// A run that stopped on a signal at a step boundary: its checkpoint is saved (when the model
/// was healthy enough to save) and the process should exit with `StopSignals.exitCode`.
package struct TrainingStopped: Sendable, Equatable, CustomStringConvertible {
    package var step: Int
    /// The signal this process received (nil: another rank received it).
    package var signal: Int32?
    /// The checkpoint written at the stop, or nil when none could be (see `reason`).
    package var checkpoint: String?
    package var reason: String?

    package init(step: Int, signal: Int32?, checkpoint: String? = nil, reason: String? = nil) {
        (self.step, self.signal, self.checkpoint, self.reason) = (step, signal, checkpoint, reason)
    }

    package var description: String {
        let saved = checkpoint.map { "saved \($0)" } ?? "no checkpoint saved (\(reason ?? "unknown reason"))"
        let cause = signal.map { StopSignals.name(of: $0) } ?? "a stop signal to another rank"
        return "stopped by \(cause) after step \(step); \(saved); continue with --resume auto (exit status \(StopSignals.exitCode))"
    }
}
