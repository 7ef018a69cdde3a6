import Cluster
import Testing

/// The ring-model fit and the size lists of `spectrain bench link`, without MPI.
@Suite("LinkModel")
struct LinkModelTests {
    /// Sizes as `bench link` uses them by default: 4 KiB to 16 MiB.
    static let sizes = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20]

    /// Times the model `truth` predicts at `sizes`, each multiplied by a factor from `noise`.
    static func points(_ truth: LinkModel, noise: [Double] = []) -> [(bytes: Int, seconds: Double)] {
        sizes.enumerated().map { index, bytes in
            (bytes, truth.seconds(bytes: Double(bytes)) * (noise.isEmpty ? 1 : noise[index % noise.count]))
        }
    }

    @Test("exact points give back alpha and beta to rounding, at 2, 3 and 8 ranks", arguments: [2, 3, 8])
    func exactPoints(ranks: Int) throws {
        // 50 us per step, 1 Gbit/s: the times span 0.05 ms to 120 ms.
        let truth = LinkModel(alpha: 50e-6, beta: 125e6, ranks: ranks)
        let fitted = try LinkModel.fit(Self.points(truth), ranks: ranks)
        // Exact inputs: only floating-point rounding in the sums separates the fit from the truth.
        #expect(abs(fitted.alpha / truth.alpha - 1) < 1e-9)
        #expect(abs(fitted.beta / truth.beta - 1) < 1e-9)
        #expect(fitted.ranks == ranks)
    }

    @Test("points with +-5% noise give alpha and beta within 10%")
    func noisyPoints() throws {
        let truth = LinkModel(alpha: 80e-6, beta: 1.2e9, ranks: 3)
        // A fixed, alternating +-5% pattern (the worst case for a line through 7 points is a
        // systematic tilt; alternating errors keep both parameters within twice the noise).
        let noise = [1.05, 0.95, 1.04, 0.96, 1.05, 0.95, 1.03]
        let fitted = try LinkModel.fit(Self.points(truth, noise: noise), ranks: 3)
        #expect(abs(fitted.alpha / truth.alpha - 1) < 0.10)
        #expect(abs(fitted.beta / truth.beta - 1) < 0.10)
        #expect(fitted.worstRelativeError(Self.points(truth, noise: noise)) < 0.10)
    }

    @Test("a small latency is fitted from the small sizes, not swamped by the large ones")
    func smallLatencyAmongLargeTimes() throws {
        // 5 us per step against 16 MiB at 200 Mbit/s (0.67 s): a fit on absolute residuals would
        // let the 1% noise on the largest time (6.7 ms) decide alpha.
        let truth = LinkModel(alpha: 5e-6, beta: 25e6, ranks: 2)
        let noise = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.01]
        let fitted = try LinkModel.fit(Self.points(truth, noise: noise), ranks: 2)
        #expect(abs(fitted.alpha / truth.alpha - 1) < 0.05)
        #expect(abs(fitted.beta / truth.beta - 1) < 0.02)
    }

    @Test("a negative best intercept holds alpha at 0 and fits beta alone")
    func negativeInterceptClampsAlpha() throws {
        // Pure bandwidth with the small sizes measured 20% fast: the free line would cross below 0.
        let truth = LinkModel(alpha: 0, beta: 1e9, ranks: 2)
        let points = Self.points(truth, noise: [0.8, 0.8, 1, 1, 1, 1, 1])
        let fitted = try LinkModel.fit(points, ranks: 2)
        #expect(fitted.alpha == 0)
        #expect(abs(fitted.beta / truth.beta - 1) < 0.2)
    }

    @Test("predictions follow the ring formula")
    func prediction() {
        let model = LinkModel(alpha: 10e-6, beta: 1e9, ranks: 4)
        // 3 steps of 10 us plus 3/4 of 4 MB at 1 GB/s.
        #expect(abs(model.seconds(bytes: 4e6) - (30e-6 + 3e-3)) < 1e-15)
    }

    @Test("fits that cannot be made are refused with a reason")
    func refusals() {
        let truth = LinkModel(alpha: 50e-6, beta: 125e6, ranks: 2)
        let points = Self.points(truth)
        #expect(throws: LinkModelError("fitting alpha and beta needs at least 2 distinct sizes, got 1")) {
            try LinkModel.fit([points[0]], ranks: 2)
        }
        #expect(throws: LinkModelError("fitting alpha and beta needs at least 2 distinct sizes, got 1")) {
            try LinkModel.fit([points[0], points[0]], ranks: 2)
        }
        #expect(throws: LinkModelError("the ring model needs at least 2 ranks, got 1")) {
            try LinkModel.fit(points, ranks: 1)
        }
        #expect(throws: LinkModelError("time 0.0 s at 4096 bytes is not a positive number")) {
            try LinkModel.fit([(4096, 0)] + points.dropFirst(), ranks: 2)
        }
        #expect(throws: LinkModelError("time nan s at 4096 bytes is not a positive number")) {
            try LinkModel.fit([(4096, .nan)] + points.dropFirst(), ranks: 2)
        }
        #expect(throws: LinkModelError("size 0 bytes is not positive")) {
            try LinkModel.fit([(0, 1e-3)] + points.dropFirst(), ranks: 2)
        }
        #expect(throws: LinkModelError("times do not grow with size, so no bandwidth can be fitted")) {
            try LinkModel.fit([(4096, 2e-3), (1 << 20, 1e-3)], ranks: 2)
        }
    }

    static func parse(_ text: String, minimumCount: Int = 1) throws(LinkModelError) -> [Int] {
        try LinkModel.parseSizes(text, option: "--sizes", multiple: 4, limit: 1 << 30, minimumCount: minimumCount)
    }

    @Test("size lists take bytes and binary K, M, G, and come back sorted")
    func parseSizes() throws {
        #expect(try Self.parse("8, 4K,1m,16M,1G,64") == [8, 64, 4096, 1 << 20, 16 << 20, 1 << 30])
        #expect(try Self.parse("4k,8") == [8, 4096])
    }

    @Test("bad size lists name the item and the problem")
    func parseSizeErrors() {
        #expect(throws: LinkModelError("--sizes: 'abc' is not a byte count (a whole number, optionally with K, M or G)")) { try Self.parse("4K,abc") }
        #expect(throws: LinkModelError("--sizes: '' is not a byte count (a whole number, optionally with K, M or G)")) { try Self.parse("4K,") }
        #expect(throws: LinkModelError("--sizes: '-8' is not a byte count (a whole number, optionally with K, M or G)")) { try Self.parse("-8") }
        #expect(throws: LinkModelError("--sizes: '1.5M' is not a byte count (a whole number, optionally with K, M or G)")) { try Self.parse("1.5M") }
        #expect(throws: LinkModelError("--sizes: 'K' is not a byte count (a whole number, optionally with K, M or G)")) { try Self.parse("K") }
        #expect(throws: LinkModelError("--sizes: '0' is not positive")) { try Self.parse("0") }
        #expect(throws: LinkModelError("--sizes: '10' (10 bytes) is not a multiple of 4 bytes")) { try Self.parse("10") }
        #expect(throws: LinkModelError("--sizes: '2G' exceeds the limit of 1073741824 bytes")) { try Self.parse("2G") }
        // Overflow of the multiplication, not a wrapped small number.
        #expect(throws: LinkModelError("--sizes: '9007199254740993G' exceeds the limit of 1073741824 bytes")) { try Self.parse("9007199254740993G") }
        #expect(throws: LinkModelError("--sizes: '99999999999999999999' is not a byte count (a whole number, optionally with K, M or G)")) {
            try Self.parse("99999999999999999999")
        }
        #expect(throws: LinkModelError("--sizes: 4096 bytes is listed twice")) { try Self.parse("4K,4096") }
        #expect(throws: LinkModelError("--sizes: needs at least 2 sizes, got 1")) { try Self.parse("4K", minimumCount: 2) }
    }
}
