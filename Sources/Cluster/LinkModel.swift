import Foundation

/// The ring model of a collective's time over a link, t(M) = (N - 1) alpha + ((N - 1) / N) M / beta,
/// fitted to measured times so that a scaling model can predict communication at other sizes
/// and rank counts.
///
/// N is the number of ranks and M the total buffer in bytes. In a ring reduce-scatter or
/// allgather every rank makes N - 1 steps, each paying the latency alpha and sending one of N
/// segments at the per-rank bandwidth beta.
package struct LinkModel: Sendable, Equatable {
    /// Seconds each step of the ring costs regardless of size (latency and software overhead).
    package var alpha: Double
    /// Bytes per second each rank sends.
    package var beta: Double
    /// Ranks N the model was fitted for.
    package var ranks: Int

    package init(alpha: Double, beta: Double, ranks: Int) {
        self.alpha = alpha
        self.beta = beta
        self.ranks = ranks
    }

    /// Bytes each rank sends in a collective over `bytes` in total: ((N - 1) / N) M.
    package static func bytesSentPerRank(total bytes: Double, ranks: Int) -> Double {
        Double(ranks - 1) / Double(ranks) * bytes
    }

    /// Predicted seconds of one collective over `bytes` in total.
    package func seconds(bytes: Double) -> Double {
        Double(ranks - 1) * alpha + Self.bytesSentPerRank(total: bytes, ranks: ranks) / beta
    }

    /// The largest relative deviation |t - model| / t over `points`, to judge the fit.
    package func worstRelativeError(_ points: [(bytes: Int, seconds: Double)]) -> Double {
        points.map { abs($0.seconds - seconds(bytes: Double($0.bytes))) / $0.seconds }.max() ?? 0
    }

    /// The model closest to `points` (total bytes, seconds) measured on `ranks` ranks.
    ///
    /// Least squares on relative residuals (each point weighted by 1 / t^2): the sizes span
    /// several orders of magnitude, and plain residuals would let the largest size decide alpha
    /// alone. When the best line has a negative intercept (latency below the noise of the large
    /// sizes) alpha is held at 0, the constrained optimum of this convex problem.
    /// Throws unless there are 2 ranks or more, two distinct positive sizes, positive finite
    /// times, and times that grow with size.
    package static func fit(_ points: [(bytes: Int, seconds: Double)], ranks: Int) throws(LinkModelError) -> LinkModel {
        guard ranks >= 2 else { throw LinkModelError("the ring model needs at least 2 ranks, got \(ranks)") }
        for point in points {
            guard point.bytes > 0 else { throw LinkModelError("size \(point.bytes) bytes is not positive") }
            guard point.seconds.isFinite, point.seconds > 0 else {
                throw LinkModelError("time \(point.seconds) s at \(point.bytes) bytes is not a positive number")
            }
        }
        guard Set(points.map(\.bytes)).count >= 2 else {
            throw LinkModelError("fitting alpha and beta needs at least 2 distinct sizes, got \(Set(points.map(\.bytes)).count)")
        }
        let x = points.map { bytesSentPerRank(total: Double($0.bytes), ranks: ranks) }
        let y = points.map(\.seconds)
        let w = y.map { 1 / ($0 * $0) }
        let weight = w.reduce(0, +)
        let meanX = zip(w, x).map { $0 * $1 }.reduce(0, +) / weight
        let meanY = zip(w, y).map { $0 * $1 }.reduce(0, +) / weight
        var sxy = 0.0
        var sxx = 0.0
        for i in points.indices {
            sxy += w[i] * (x[i] - meanX) * (y[i] - meanY)
            sxx += w[i] * (x[i] - meanX) * (x[i] - meanX)
        }
        var slope = sxy / sxx
        var intercept = meanY - slope * meanX
        if intercept < 0 {
            intercept = 0
            slope = zip(w, zip(x, y)).map { $0 * $1.0 * $1.1 }.reduce(0, +) / zip(w, x).map { $0 * $1 * $1 }.reduce(0, +)
        }
        guard slope > 0, slope.isFinite else {
            throw LinkModelError("times do not grow with size, so no bandwidth can be fitted")
        }
        return LinkModel(alpha: intercept / Double(ranks - 1), beta: 1 / slope, ranks: ranks)
    }

    /// Parses a list of byte counts such as "8,4K,16M": comma-separated whole numbers, each
    /// optionally followed by K, M or G (binary multiples: 1K = 1024 bytes).
    ///
    /// Every size must be a positive multiple of `multiple` (the element size) and at most
    /// `limit` bytes; the list must hold at least `minimumCount` distinct sizes. The result is
    /// sorted. `option` names the list in the error message.
    package static func parseSizes(
        _ text: String, option: String, multiple: Int, limit: Int, minimumCount: Int
    ) throws(LinkModelError) -> [Int] {
        var sizes: [Int] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let value = item.trimmingCharacters(in: .whitespaces)
            var digits = Substring(value)
            var unit = 1
            if let last = value.last, let shift = ["K": 10, "M": 20, "G": 30][last.uppercased()] {
                digits = value.dropLast()
                unit = 1 << shift
            }
            guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let count = Int(digits) else {
                throw LinkModelError("\(option): '\(value)' is not a byte count (a whole number, optionally with K, M or G)")
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: unit)
            guard !overflow, bytes <= limit else {
                throw LinkModelError("\(option): '\(value)' exceeds the limit of \(limit) bytes")
            }
            guard bytes > 0 else { throw LinkModelError("\(option): '\(value)' is not positive") }
            guard bytes % multiple == 0 else {
                throw LinkModelError("\(option): '\(value)' (\(bytes) bytes) is not a multiple of \(multiple) bytes")
            }
            guard !sizes.contains(bytes) else { throw LinkModelError("\(option): \(bytes) bytes is listed twice") }
            sizes.append(bytes)
        }
        guard sizes.count >= minimumCount else {
            throw LinkModelError("\(option): needs at least \(minimumCount) sizes, got \(sizes.count)")
        }
        return sizes.sorted()
    }
}

/// A ring model that cannot be fitted or a size list that cannot be parsed; the message is one
/// line naming the value and the problem.
package struct LinkModelError: Error, Equatable, CustomStringConvertible {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
