import CMPI
import Foundation

/// The MPI requests of a communicator's non-blocking collectives, and the thread that keeps them
/// moving while the caller computes.
///
/// OpenMPI moves a non-blocking collective forward only inside MPI calls (there is no
/// asynchronous progress for its TCP and shared-memory transports): a reduction started before
/// 100 ms of computation and waited for after it takes as long in the wait as a blocking one
/// (measured: 12-20 ms for 16 MB over TCP on one machine). So while requests are in flight a
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
    /// A slot's ring reduce-scatter, the two requests of its round in flight, and its receive
    /// scratch (kept between uses, so a steady schedule allocates nothing).
    private var rings: [RingReduceScatter?] = []
    private var ringRequests: [MPI_Request?] = []
    private var scratch: [UnsafeMutablePointer<Float>] = []
    private var scratchCapacity: [Int] = []
    /// Counts ring starts: the ranks start them in the same order, so it gives each its own tag.
    private var ringSequence = 0
    private var freeSlots: [Int] = []
    private var inFlightCount = 0
    private var threadStarted = false

    init(pollInterval: Duration?) {
        self.pollInterval = pollInterval
    }

    deinit {
        for buffer in scratch { buffer.deallocate() }
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
        (inFlight[slot], finished[slot], failures[slot], rings[slot]) = (true, nil, nil, nil)
        inFlightCount += 1
        if pollInterval != nil && !threadStarted { startThread() }
        condition.signal()
        return slot
    }

    /// Starts a ring reduce-scatter of Float32 sums over `communicator` (see `RingReduceScatter`)
    /// and returns its slot. `buffer` is overwritten with partial sums.
    func startRing(
        buffer: UnsafeMutableBufferPointer<Float>, receive: UnsafeMutableBufferPointer<Float>, partition: Partition,
        rank: Int, size: Int, communicator: MPI_Comm
    ) throws(CommunicatorError) -> Int {
        condition.lock()
        defer { condition.unlock() }
        let slot = freeSlots.popLast() ?? appendSlot()
        let largest = partition.counts.max() ?? 0
        if scratchCapacity[slot] < largest {
            scratch[slot].deallocate()
            scratch[slot] = .allocate(capacity: largest)
            scratchCapacity[slot] = largest
        }
        let tag = Int32(1000 + ringSequence % 30_000)
        ringSequence += 1
        let ring = partition.withMPICounts { counts in
            partition.withMPIOffsets { offsets in
                RingReduceScatter(
                    buffer: buffer.baseAddress ?? receive.baseAddress ?? UnsafeMutablePointer(bitPattern: 16)!,
                    receive: receive.baseAddress ?? UnsafeMutablePointer(bitPattern: 16)!,
                    counts: counts.baseAddress!, offsets: offsets.baseAddress!, rank: rank, size: size, tag: tag,
                    communicator: communicator)
            }
        }
        (inFlight[slot], finished[slot], failures[slot], rings[slot]) = (true, nil, nil, ring)
        inFlightCount += 1
        if ring.isFinished {
            ring.deliver()
            complete(slot, code: MPI_SUCCESS, call: "ring reduce-scatter")
            return slot
        }
        let code = post(slot)
        if code != MPI_SUCCESS {
            complete(slot, code: code, call: "MPI_Isend/MPI_Irecv (ring reduce-scatter)")
            return slot
        }
        if pollInterval != nil && !threadStarted { startThread() }
        condition.signal()
        return slot
    }

    /// Posts the current round of the ring in `slot` (with the lock held).
    private func post(_ slot: Int) -> Int32 {
        let ring = rings[slot]!
        let receiving = scratch[slot]
        return ringRequests.withUnsafeMutableBufferPointer { requests in
            ring.post(requests: requests.baseAddress! + 2 * slot, scratch: receiving)
        }
    }

    /// Moves the ring in `slot` on: each round whose messages have arrived (waiting for them when
    /// `blocking`) is added in and the next posted, until the last or one not yet arrived.
    private func advanceRing(_ slot: Int, blocking: Bool) {
        while inFlight[slot] {
            let code: Int32 = ringRequests.withUnsafeMutableBufferPointer { requests in
                if blocking { return MPI_Waitall(2, requests.baseAddress! + 2 * slot, MPI_STATUSES_IGNORE) }
                var flag: Int32 = 0
                let code = MPI_Testall(2, requests.baseAddress! + 2 * slot, &flag, MPI_STATUSES_IGNORE)
                return code == MPI_SUCCESS && flag == 0 ? -1 : code
            }
            if code == -1 { return }
            if code != MPI_SUCCESS {
                complete(slot, code: code, call: "MPI_Testall (ring reduce-scatter)")
                return
            }
            rings[slot]!.accumulate(scratch: scratch[slot])
            rings[slot]!.round += 1
            if rings[slot]!.isFinished {
                rings[slot]!.deliver()
                complete(slot, code: MPI_SUCCESS, call: "ring reduce-scatter")
                return
            }
            let posted = post(slot)
            if posted != MPI_SUCCESS {
                complete(slot, code: posted, call: "MPI_Isend/MPI_Irecv (ring reduce-scatter)")
                return
            }
        }
    }

    /// Blocks until the request in `slot` has completed (completing it here if the progress thread
    /// has not) and frees the slot: when it completed.
    func wait(slot: Int, call: String) throws(CommunicatorError) -> ContinuousClock.Instant {
        condition.lock()
        defer { condition.unlock() }
        if rings[slot] != nil {
            advanceRing(slot, blocking: true)
        } else if inFlight[slot] {
            let code = MPI_Wait(&requests[slot], MPI_STATUS_IGNORE)
            complete(slot, code: code, call: call)
        }
        rings[slot] = nil
        freeSlots.append(slot)
        if let failure = failures[slot] { throw failure }
        return finished[slot] ?? .now
    }

    private func appendSlot() -> Int {
        requests.append(MPI_REQUEST_NULL)
        inFlight.append(false)
        finished.append(nil)
        failures.append(nil)
        rings.append(nil)
        ringRequests += [MPI_REQUEST_NULL, MPI_REQUEST_NULL]
        scratch.append(.allocate(capacity: 1))
        scratchCapacity.append(1)
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
                if rings[slot] != nil {
                    advanceRing(slot, blocking: false)
                    continue
                }
                var flag: Int32 = 0
                let code = MPI_Test(&requests[slot], &flag, MPI_STATUS_IGNORE)
                if flag != 0 || code != MPI_SUCCESS { complete(slot, code: code, call: "MPI_Test") }
            }
            condition.unlock()
            usleep(sleepMicroseconds)
        }
    }
}
