import Optim
import Testing

@Suite("Curvature schedule")
struct CurvatureScheduleTests {
    func schedule(base: Int = 1, reference: Int? = 128, maxInterval: Int = 64, warmup: Int = 0, scaling: CurvatureSchedule.RateScaling = .fixed) -> CurvatureSchedule {
        CurvatureSchedule(
            baseInterval: base, referenceDimension: reference, maxInterval: maxInterval, warmupSteps: warmup, rateScaling: scaling,
            curvatureLearningRate: 0.05)
    }

    @Test("a factor of dimension k > D updates every base * 2^round(log2((k/D)³)) steps, capped")
    func intervals() {
        let plain = schedule()
        #expect(plain.interval(dimension: 10) == 1)
        #expect(plain.interval(dimension: 128) == 1)
        // (160/128)³ = 1.95: 2^round(0.97) = 2.
        #expect(plain.interval(dimension: 160) == 2)
        #expect(plain.interval(dimension: 256) == 8)
        // (448/128)³ = 42.9: 2^round(5.42) = 32.
        #expect(plain.interval(dimension: 448) == 32)
        #expect(plain.interval(dimension: 784) == 64)
        #expect(schedule(maxInterval: 16).interval(dimension: 784) == 16)
        #expect(schedule(base: 3).interval(dimension: 256) == 24)
        #expect(schedule(base: 3).interval(dimension: 64) == 3)
        // The cap is rounded down to base * 2^j: 3 * 16 = 48 <= 64 < 96.
        #expect(schedule(base: 3).interval(dimension: 784) == 48)
        // No reference dimension: every factor on the base interval.
        #expect(schedule(base: 2, reference: nil).interval(dimension: 4096) == 2)
        // Huge ratios saturate at the cap instead of overflowing.
        #expect(schedule(reference: 1, maxInterval: 1_000_000).interval(dimension: 1_000_000) == 524_288)
        #expect(schedule(base: 1_000_000, reference: 1, maxInterval: 1_000_000).interval(dimension: 1_000_000) == 1_000_000)
    }

    @Test("during the warm-up intervals double from the base: W steps at the base, then about W updates per doubling")
    func warmup() {
        let warm = schedule(warmup: 8)
        #expect((0..<8).allSatisfy { warm.interval(dimension: 784, step: $0) == 1 })
        #expect((8..<24).allSatisfy { warm.interval(dimension: 784, step: $0) == 2 })
        #expect((24..<56).allSatisfy { warm.interval(dimension: 784, step: $0) == 4 })
        #expect(warm.interval(dimension: 784, step: 100_000) == 64)
        // Never beyond the factor's own interval.
        #expect((0..<1000).allSatisfy { warm.interval(dimension: 256, step: $0) <= 8 })
        #expect((0..<1000).allSatisfy { warm.interval(dimension: 64, step: $0) == 1 })
        // Each doubling holds about W updates.
        let updates = (8..<24).filter { warm.rate(dimension: 784, step: $0) != nil }.count
        #expect(updates == 8)
    }

    /// Intervals are powers of two times the base, so when a larger factor is due every smaller
    /// one is too (a block's two sides share one rotated gradient).
    @Test("a larger factor's updates fall on steps where every smaller factor updates")
    func nesting() {
        for warm in [schedule(warmup: 8), schedule(base: 3), schedule(base: 2, warmup: 5)] {
            for step in 0..<3000 {
                let due = [64, 200, 256, 512, 784, 3000].map { warm.rate(dimension: $0, step: step) != nil }
                for (smaller, larger) in zip(due, due.dropFirst()) where larger {
                    #expect(smaller, "step \(step)")
                }
            }
        }
    }

    @Test("fixed rates keep beta2; compounded ones give what T steps of the average would move")
    func rates() throws {
        #expect(schedule().rate(dimension: 784, step: 64) == 0.05)
        #expect(schedule().rate(dimension: 784, step: 65) == nil)
        let compounded = try #require(schedule(scaling: .compounded).rate(dimension: 256, step: 16))
        #expect(abs(compounded - (1 - 0.95 * 0.95 * 0.95 * 0.95 * 0.95 * 0.95 * 0.95 * 0.95)) < 1e-12)
        #expect(schedule(scaling: .compounded).rate(dimension: 64, step: 5) == 0.05)
    }
}
