import Linalg
import Testing

@Suite("BLAS threading policy, kernel selection, seeded generator")
struct RuntimeSupportTests {
    @Test("the policy shares the node's cores among its ranks and respects binding")
    func threadPolicy() {
        #expect(BLASThreading.policyThreads(availableCores: 2, onlineCores: 2, ranksOnNode: 1) == 2)
        #expect(BLASThreading.policyThreads(availableCores: 2, onlineCores: 2, ranksOnNode: 2) == 1)
        #expect(BLASThreading.policyThreads(availableCores: 1, onlineCores: 2, ranksOnNode: 2) == 1) // bound to a core
        #expect(BLASThreading.policyThreads(availableCores: 2, onlineCores: 2, ranksOnNode: 3) == 1) // oversubscribed
        #expect(BLASThreading.policyThreads(availableCores: 64, onlineCores: 64, ranksOnNode: 8) == 8)
        #expect(BLASThreading.policyThreads(availableCores: 4, onlineCores: 64, ranksOnNode: 8) == 4)
    }

    @Test("explicit requests win over environment variables, which win over the policy")
    func threadDecision() throws {
        let policy = try BLASThreadDecision.resolve(
            requested: nil, environment: [:], availableCores: 2, onlineCores: 2, ranksOnNode: 2)
        #expect(policy.threads == 1 && policy.reason == "2 cores / 2 ranks on this node")
        let environment = try BLASThreadDecision.resolve(
            requested: nil, environment: ["OPENBLAS_NUM_THREADS": "3", "SPECTRAIN_BLAS_THREADS": "5"],
            availableCores: 2, onlineCores: 2, ranksOnNode: 2)
        #expect(environment == BLASThreadDecision(threads: 5, reason: "SPECTRAIN_BLAS_THREADS"))
        let flag = try BLASThreadDecision.resolve(
            requested: 4, environment: ["SPECTRAIN_BLAS_THREADS": "5"], availableCores: 2, onlineCores: 2, ranksOnNode: 1)
        #expect(flag == BLASThreadDecision(threads: 4, reason: "--blas-threads"))
        #expect(throws: BLASThreadRequestError(source: "OPENBLAS_NUM_THREADS", value: "many")) {
            try BLASThreadDecision.resolve(
                requested: nil, environment: ["OPENBLAS_NUM_THREADS": "many"], availableCores: 2, onlineCores: 2, ranksOnNode: 1)
        }
        #expect(throws: BLASThreadRequestError(source: "--blas-threads", value: "0")) {
            try BLASThreadDecision.resolve(requested: 0, environment: [:], availableCores: 2, onlineCores: 2, ranksOnNode: 1)
        }
    }

    @Test("Linux CPU lists parse; garbage does not")
    func cpuList() {
        #expect(BLASThreading.countCPUList("0-1") == 2)
        #expect(BLASThreading.countCPUList("0-3,8,10-11\n") == 7)
        #expect(BLASThreading.countCPUList("3") == 1)
        #expect(BLASThreading.countCPUList("1-x") == nil)
        #expect(BLASThreading.countCPUList("4-2") == nil)
        #expect(BLASThreading.availableCores() >= 1)
    }

    @Test("a fallback kernel is replaced only when the CPU supports a better one")
    func kernelSelection() {
        let avx512: Set = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
        #expect(BLASCoreSelection.betterCore(detected: "Prescott", cpuFlags: avx512) == "SkylakeX")
        #expect(BLASCoreSelection.betterCore(detected: "Prescott", cpuFlags: ["avx2", "fma"]) == "Haswell")
        #expect(BLASCoreSelection.betterCore(detected: "Prescott", cpuFlags: ["sse3"]) == nil)
        #expect(BLASCoreSelection.betterCore(detected: "Haswell", cpuFlags: avx512) == nil)
        #expect(BLASCoreSelection.betterCore(detected: "Zen", cpuFlags: avx512) == nil)
    }

    @Test("the load-time OpenBLAS settings: each only where the user has not set it")
    func loadTimeSettings() {
        let avx512: Set = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
        let names = { (settings: [(name: String, value: String)]) in settings.map(\.name) }
        let fresh = BLASEnvironment.settings(environment: [:], detectedCore: "Prescott", cpuFlags: avx512)
        #expect(names(fresh) == ["OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_CORETYPE", "SPECTRAIN_OPENBLAS_DETECTED_CORE"])
        #expect(fresh.map(\.value) == ["4", "SkylakeX", "Prescott"])
        #expect(names(BLASEnvironment.settings(environment: [:], detectedCore: "Cooperlake", cpuFlags: avx512)) == ["OPENBLAS_THREAD_TIMEOUT"])
        // Once set (by the user, or by the first run before it re-ran itself): nothing to change,
        // so the re-run does not run again.
        let set = ["OPENBLAS_THREAD_TIMEOUT": "10", "OPENBLAS_CORETYPE": "Haswell"]
        #expect(BLASEnvironment.settings(environment: set, detectedCore: "Prescott", cpuFlags: avx512).isEmpty)
    }

    @Test("the seeded generator is reproducible, resumable and roughly standard normal")
    func generator() {
        var first = SeededGenerator(seed: 123)
        var second = SeededGenerator(seed: 123)
        let sequence = (0..<5).map { _ in first.next() }
        #expect(sequence == (0..<5).map { _ in second.next() })
        var resumed = SeededGenerator(state: first.state)
        #expect(resumed.next() == first.next())
        #expect(SeededGenerator(seed: 124).state != SeededGenerator(seed: 123).state)

        var gaussian = SeededGenerator(seed: 99)
        let samples = (0..<20_000).map { _ in gaussian.nextGaussian(Double.self) }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count)
        // Standard errors at n = 20000: mean 0.007, variance 0.01; 5 sigma bounds.
        #expect(abs(mean) < 0.035)
        #expect(abs(variance - 1) < 0.05)
    }
}
