import CMPI
import Foundation

/// The MPI requests of a communicator's non-blocking collectives, and the thread that keeps them
/// moving while the caller computes.
///
/// OpenMPI moves a non-blocking collective forward only inside MPI calls (there is no
/// asynchronous progress for its TCP and shared-memory transports): a reduction started before
/// 100 ms of computation and waited for after it takes as long in the wait as a blocking one
/// (measured: 15-20 ms for 16 MB over TCP on one machine). So while requests are in flight a
/// progress thread calls `MPI_Test` on them every `pollInterval` and sleeps in between, which
/// costs the computing thread little and keeps the link busy (the same measurement: 0 ms left
/// in the wait). MPI runs with `MPI_THREAD_SERIALIZED`, so every MPI call of the communicator,
/// from any thread, goes through `withMPI`, one at a time.
///
/// `@unchecked Sendable`: it wraps C handles (`MPI_Request`), and every field is read and written
/// only while holding `condition`'s lock.
final class MPIRequestPool: @unchecked Sendable {
    /// The poll period of the progress thread; nil: no polling, requests move only in waits.
    private var pollInterval: Duration?
    private let condition = NSCondition()
    private var requests: [MPI_Request?] = []
    private var inFlight: [Bool] = []
    private var finished: [ContinuousClock.Instant?] = []
    private var failures: [CommunicatorError?] = []
    private var freeSlots: [Int] = []
    private var inFlightCount = 0
    private var threadStarted = false

    init(pollInterval: Duration?) {
        self.pollInterval = pollInterval
    }

    /// Sets the poll period of the progress thread (nil: stop polling).
    func setPollInterval(_ interval: Duration?) {
        condition.lock()
        defer { condition.unlock() }
        pollInterval = interval
        condition.signal()
    }

    /// Runs `body` (which calls MPI) with no other thread of this process inside MPI.
    func withMPI<Result>(_ body: () throws(CommunicatorError) -> Result) throws(CommunicatorError) -> Result {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    /// Starts a request with `start` (which receives the handle to fill and returns an MPI code)
    /// and returns its slot.
    func start(_ call: String, _ start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws(CommunicatorError) -> Int {
        condition.lock()
        defer { condition.unlock() }
        let slot = freeSlots.popLast() ?? appendSlot()
        let code = start(&requests[slot])
        if code != MPI_SUCCESS {
            freeSlots.append(slot)
            throw .mpi(call: call, code: code, message: MPIRuntime.errorString(code))
        }
        (inFlight[slot], finished[slot], failures[slot]) = (true, nil, nil)
        inFlightCount += 1
        if pollInterval != nil && !threadStarted { startThread() }
        condition.signal()
        return slot
    }

    /// Blocks until the request in `slot` has completed (completing it here if the progress thread
    /// has not) and frees the slot: when it completed.
    func wait(slot: Int, call: String) throws(CommunicatorError) -> ContinuousClock.Instant {
        condition.lock()
        defer { condition.unlock() }
        if inFlight[slot] {
            let code = MPI_Wait(&requests[slot], MPI_STATUS_IGNORE)
            complete(slot, code: code, call: call)
        }
        freeSlots.append(slot)
        if let failure = failures[slot] { throw failure }
        return finished[slot] ?? .now
    }

    private func appendSlot() -> Int {
        requests.append(MPI_REQUEST_NULL)
        inFlight.append(false)
        finished.append(nil)
        failures.append(nil)
        return requests.count - 1
    }

    /// Records the completion of `slot` (with the lock held).
    private func complete(_ slot: Int, code: Int32, call: String) {
        inFlight[slot] = false
        inFlightCount -= 1
        finished[slot] = .now
        if code != MPI_SUCCESS { failures[slot] = .mpi(call: call, code: code, message: MPIRuntime.errorString(code)) }
    }

    private func startThread() {
        threadStarted = true
        let thread = Thread { [self] in progressLoop() }
        thread.name = "spectrain MPI progress"
        thread.start()
    }

    /// Tests every request in flight, sleeps, repeats; parks (outside MPI) while none is in flight.
    private func progressLoop() {
        while true {
            condition.lock()
            while inFlightCount == 0 || pollInterval == nil { condition.wait() }
            let (seconds, attoseconds) = pollInterval!.components
            let sleepMicroseconds = UInt32(clamping: max(1, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
            for slot in inFlight.indices where inFlight[slot] {
                var flag: Int32 = 0
                let code = MPI_Test(&requests[slot], &flag, MPI_STATUS_IGNORE)
                if flag != 0 || code != MPI_SUCCESS { complete(slot, code: code, call: "MPI_Test") }
            }
            condition.unlock()
            usleep(sleepMicroseconds)
        }
    }
}
