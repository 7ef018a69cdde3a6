import Foundation
import Linalg
import Testing

@Suite("Vectorizable exponential and the parallel loop")
struct ParallelKernelTests {
    // Cephes' expf is documented within 2 ulp; 4 ulp relative (about 4.8e-7) leaves a margin while
    // catching a wrong coefficient (which costs 1e-5 or more) or a wrong power of two (a factor 2).
    static let exponentialTolerance = 4.8e-7

    @Test("exp matches the Float64 exponential over the whole unclamped range")
    func exponentialAccuracy() {
        var worst = 0.0
        var x: Float = -86.5
        while x <= 88 {
            let exact = Foundation.exp(Double(x))
            let approximate = Double(VectorExponential.exp(x))
            worst = max(worst, abs(approximate - exact) / exact)
            x += 0.0137
        }
        for x: Float in [0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 0.3465736, -0.3465736, 1, -1] {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(VectorExponential.exp(x)) - exact) / exact)
        }
        #expect(worst < Self.exponentialTolerance, "worst relative error \(worst)")
    }

    @Test("exp clamps large inputs to finite values and keeps NaN")
    func exponentialEdges() {
        for x: Float in [88.5, 100, 1e30, .infinity] {
            let value = VectorExponential.exp(x)
            #expect(value.isFinite && value > 1e38, "exp(\(x)) = \(value)")
        }
        for x: Float in [-87, -88, -100, -1e30, -.infinity] {
            let value = VectorExponential.exp(x)
            #expect(value.isNormal && value < 3e-38, "exp(\(x)) = \(value)")
        }
        #expect(VectorExponential.exp(.nan).isNaN)
    }

    @Test("forEach runs every index exactly once, and workers only get their own scratch", arguments: [1, 2, 3, 8])
    func forEachCoversIndices(workers: Int) {
        for count in [0, 1, 2, 5, 17, 64] {
            var visits = [Int](repeating: 0, count: count)
            var workerOf = [Int](repeating: -1, count: count)
            visits.withUnsafeMutableBufferPointer { visits in
                workerOf.withUnsafeMutableBufferPointer { workerOf in
                    ParallelLoop.forEach(count: count, workers: workers) { index, worker in
                        visits[index] += 1
                        workerOf[index] = worker
                    }
                }
            }
            #expect(visits.allSatisfy { $0 == 1 }, "count \(count), workers \(workers): \(visits)")
            #expect(workerOf.allSatisfy { $0 >= 0 && $0 < max(1, min(workers, count)) })
            // Contiguous ranges: a worker's indices are never interleaved with another's.
            #expect(workerOf == workerOf.sorted())
        }
    }

    @Test("forEach leaves OpenBLAS's thread count as it was")
    func forEachRestoresThreads() {
        let before = BLASThreading.threads
        ParallelLoop.forEach(count: 4, workers: 2) { _, _ in }
        #expect(BLASThreading.threads == before)
    }

    @Test("forEachRange splits into disjoint ranges covering the count, only when large enough")
    func forEachRangeCovers() {
        for (count, minimum) in [(0, 4), (3, 4), (8, 4), (1000, 7), (100_000, 16_384)] {
            var covered = [Int](repeating: 0, count: count)
            var calls = 0
            let lock = NSLock()
            covered.withUnsafeMutableBufferPointer { covered in
                ParallelLoop.forEachRange(count: count, minimumPerWorker: minimum, workers: 3) { range in
                    for index in range { covered[index] += 1 }
                    lock.lock(); calls += 1; lock.unlock()
                }
            }
            #expect(covered.allSatisfy { $0 == 1 })
            #expect(calls == max(1, min(3, count / minimum)), "count \(count), minimum \(minimum)")
        }
    }
}
