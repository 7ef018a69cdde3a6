import Linalg

/// The lowest value a search has been told and the candidate that had it: the best point actually
/// evaluated, which ask/tell users report as the answer (the mean is where the distribution is
/// heading, and on a noisy objective the two differ).
public struct BestSample: Sendable, Equatable {
    /// The candidate with the lowest value so far; empty before the first finite value.
    public private(set) var point: [Double] = []
    /// Its value; `+infinity` before the first finite value.
    public private(set) var value = Double.infinity

    /// No sample yet.
    public init() {}

    /// Keeps the row of `candidates` with the lowest value if it is lower than the best so far;
    /// of equal values the first row counts, and NaN is never best, so every rank holding the
    /// same values keeps the same point.
    public mutating func consider(_ candidates: Matrix<Double>, values: [Double]) {
        precondition(values.count == candidates.rows, "BestSample.consider: \(values.count) values for \(candidates.rows) rows")
        var lowest: Int?
        for row in values.indices where values[row] < (lowest.map { values[$0] } ?? value) { lowest = row }
        guard let row = lowest else { return }
        value = values[row]
        let columns = candidates.columns
        point = candidates.withUnsafeBufferPointer { Array($0[(row * columns)..<((row + 1) * columns)]) }
    }

    /// Adds the best sample to `state` as `prefix.point` and `prefix.value` (none before the first).
    func save(into state: inout SearchState, prefix: String) {
        guard !point.isEmpty else { return }
        state.add(prefix + ".point", point)
        state.add(prefix + ".value", [value])
    }

    /// The best sample `save` stored for a search of `dimension`, or none when the state has none
    /// (a state written before it was kept).
    static func restored(from state: SearchState, prefix: String, dimension: Int) throws(AdaptationError) -> BestSample {
        guard state.contains(prefix + ".value") else { return BestSample() }
        var best = BestSample()
        best.value = try state.double(prefix + ".value")
        best.point = try state.doubles(prefix + ".point", count: dimension)
        return best
    }
}
