import Linalg

/// The machine's memory bandwidth as a copy of a buffer far larger than the caches, split over
/// the rank's cores as the optimizer's elementwise work is: the yardstick `bench model` sets the
/// optimizer's traffic beside.
enum CopyBenchmark {
    /// Bytes read plus bytes written per second by `memcpy` of `bytes` (64 MiB by default) in
    /// `BLASThreading.threads` contiguous parts on as many threads, the best of repeated copies
    /// over at least `minTime` seconds.
    static func bytesPerSecond(bytes: Int = 64 << 20, minTime: Double) -> Double {
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        // Touch every page first, so the copies time memory and not page faults.
        source.initializeMemory(as: UInt8.self, repeating: 1)
        destination.initializeMemory(as: UInt8.self, repeating: 2)
        let (from, to) = (UnsafeRawPointer(source.baseAddress!), destination.baseAddress!)
        let timing = Timing.measure(minTime: minTime) {
            ParallelLoop.forEachRange(count: bytes, minimumPerWorker: 1 << 20) { range in
                (to + range.lowerBound).copyMemory(from: from + range.lowerBound, byteCount: range.count)
            }
        }
        return 2 * Double(bytes) / timing.best
    }
}
