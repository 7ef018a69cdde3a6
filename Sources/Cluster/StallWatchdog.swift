import Foundation
import Synchronization

/// Ends this rank when the work it watches makes no progress for a set time, so that a rank stuck
/// outside MPI (a deadlock, a hung file system, a lost peer that MPI cannot see) ends the whole
/// job with a message instead of leaving every rank blocked forever.
///
/// The work calls `beat(step:phase:)` as it goes; a background thread checks the time since the
/// last beat. On a stall it hands a one-line description to `onStall`, whose default prints it
/// and exits the process non-zero, which makes mpirun terminate the other ranks. The watchdog
/// never calls MPI from its thread (MPI is initialised `MPI_THREAD_SERIALIZED`).
package final class StallWatchdog: Sendable {
    /// Seconds without a beat that count as a stall.
    package let timeoutSeconds: Double
    private let state: Mutex<State>

    private struct State {
        var lastBeat: ContinuousClock.Instant
        var step: Int
        var phase: StaticString
        var stopped: Bool
    }

    /// Starts watching at once, as if beaten at `step` in `phase`. `onStall` receives the seconds
    /// since the last beat, the step and the phase of that beat.
    package init(
        timeoutSeconds: Double, step: Int = 0, phase: StaticString = "start-up",
        onStall: @escaping @Sendable (_ idleSeconds: Double, _ step: Int, _ phase: String) -> Void
    ) {
        precondition(timeoutSeconds > 0, "StallWatchdog: timeout must be > 0, got \(timeoutSeconds)")
        self.timeoutSeconds = timeoutSeconds
        state = Mutex(State(lastBeat: ContinuousClock.now, step: step, phase: phase, stopped: false))
        let interval = min(1, timeoutSeconds / 4)
        Thread.detachNewThread { [self] in
            while true {
                Thread.sleep(forTimeInterval: interval)
                let stall: (Double, Int, String)? = state.withLock { state in
                    if state.stopped { return nil }
                    let idleSeconds = state.lastBeat.duration(to: ContinuousClock.now) / .seconds(1)
                    guard idleSeconds > timeoutSeconds else { return nil }
                    state.stopped = true
                    return (idleSeconds, state.step, "\(state.phase)")
                }
                if let stall { onStall(stall.0, stall.1, stall.2) }
                if state.withLock({ $0.stopped }) { return }
            }
        }
    }

    /// Records progress: the work is at `step`, in `phase`. Cheap (a lock and a clock read).
    package func beat(step: Int, phase: StaticString) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.lastBeat = now
            state.step = step
            state.phase = phase
        }
    }

    /// Stops watching; the thread ends within a second.
    package func stop() {
        state.withLock { $0.stopped = true }
    }

    /// Prints `message` on standard error and ends the process with status 75 at once (`_exit`:
    /// no atexit handlers, which could block in MPI).
    package static func endProcess(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        _exit(75)
    }
}
