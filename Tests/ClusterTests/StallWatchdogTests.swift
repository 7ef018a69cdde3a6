import Cluster
import Foundation
import Synchronization
import Testing

/// The stall watchdog in-process, with a recording handler instead of ending the process. The
/// timeouts are short, and the waits long enough (several seconds of slack) for a loaded machine.
@Suite("StallWatchdog")
struct StallWatchdogTests {
    /// What the handler saw: (idle seconds, step, phase) per call.
    final class Calls: Sendable {
        let list = Mutex<[(Double, Int, String)]>([])
        var all: [(Double, Int, String)] { list.withLock { $0 } }
        func record(_ idle: Double, _ step: Int, _ phase: String) { list.withLock { $0.append((idle, step, phase)) } }
    }

    /// Waits up to `seconds` for `condition`.
    func wait(seconds: Double, until condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    }

    @Test("without beats it reports once, with the step and phase of the last beat and the idle time")
    func reportsStall() {
        let calls = Calls()
        let watchdog = StallWatchdog(timeoutSeconds: 0.3, step: 4, phase: "start-up") { calls.record($0, $1, $2) }
        watchdog.beat(step: 7, phase: "gradient exchange of")
        wait(seconds: 10) { !calls.all.isEmpty }
        Thread.sleep(forTimeInterval: 0.5)
        let seen = calls.all
        #expect(seen.count == 1)
        #expect(seen.first?.1 == 7)
        #expect(seen.first?.2 == "gradient exchange of")
        #expect((seen.first?.0 ?? 0) > 0.3)
    }

    @Test("regular beats keep it quiet, and after stop() it never reports")
    func beatsAndStop() {
        let calls = Calls()
        let watchdog = StallWatchdog(timeoutSeconds: 3) { calls.record($0, $1, $2) }
        for step in 0..<225 {
            watchdog.beat(step: step, phase: "forward and backward of")
            Thread.sleep(forTimeInterval: 0.02)
        }
        watchdog.stop()
        Thread.sleep(forTimeInterval: 4)
        #expect(calls.all.isEmpty)
    }
}
