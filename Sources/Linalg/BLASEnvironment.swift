/// The OpenBLAS settings that only take effect when the library loads, so the executable sets
/// them in its environment and re-runs itself before anything else (`spectrain`'s `main`).
package enum BLASEnvironment {
    /// `OPENBLAS_THREAD_TIMEOUT`: how long (2^n cycles) an OpenBLAS worker thread keeps polling
    /// for work, calling `sched_yield`, after a GEMM before it sleeps. The default, 2^28 cycles
    /// (about 0.1 s), keeps it polling through the step, where it takes turns on the cores with
    /// the threads of `ParallelLoop` (attention, convolution chunks, the optimizer's blocks):
    /// on 2 cores the character transformer's step measured 220-275 ms with the default against
    /// 189-192 ms at 2^4 (docs/benchmarks.md). At 2^4 a worker sleeps at once and the next
    /// multi-threaded GEMM wakes it, which costs microseconds.
    static let threadTimeout = "4"

    /// The variables to set, given the current environment and the kernel OpenBLAS chose: each
    /// one only where the user has not set it.
    package static func settings(environment: [String: String], detectedCore: String, cpuFlags: Set<String>) -> [(name: String, value: String)] {
        var settings: [(name: String, value: String)] = []
        if environment["OPENBLAS_THREAD_TIMEOUT"] == nil {
            settings.append(("OPENBLAS_THREAD_TIMEOUT", threadTimeout))
        }
        if environment["OPENBLAS_CORETYPE"] == nil, let core = BLASCoreSelection.betterCore(detected: detectedCore, cpuFlags: cpuFlags) {
            settings.append(("OPENBLAS_CORETYPE", core))
            settings.append(("SPECTRAIN_OPENBLAS_DETECTED_CORE", detectedCore))
        }
        return settings
    }
}
