import Linalg
import Testing
@testable import GradientFree

/// The ask/tell contract every search distribution keeps for library users: the best sample is
/// the lowest value told with its candidate, bad `tell`s throw and change nothing, and the best
/// sample survives save and restore.
@Suite struct AskTellTests {
    static let methods: [AdaptationMethod] = [.cma, .cmaExact, .spectral, .xnes]

    func makeSearch(_ method: AdaptationMethod, dimension: Int = 4) throws -> any SearchDistribution {
        try GradientFree.makeSearch(dimension: dimension, start: [Double](repeating: 1, count: dimension), options: AdaptationOptions(method: method), seed: 11)
    }

    func rows(_ matrix: Matrix<Double>) -> [[Double]] {
        (0..<matrix.rows).map { row in Array(matrix.elements[(row * matrix.columns)..<((row + 1) * matrix.columns)]) }
    }

    /// The sphere's values: an objective whose best candidate is easy to name from outside.
    func sphere(_ points: Matrix<Double>) -> [Double] {
        rows(points).map { $0.reduce(0) { $0 + $1 * $1 } }
    }

    @Test("best is the lowest value told and the candidate that had it, over iterations", arguments: methods)
    func bestIsLowestTold(method: AdaptationMethod) throws {
        let search = try makeSearch(method)
        #expect(search.best.point.isEmpty && search.best.value == .infinity)
        var lowest = (value: Double.infinity, point: [Double]())
        for _ in 0..<6 {
            let candidates = search.ask()
            var values = sphere(candidates)
            values[0] = .nan  // never best, and ranked last rather than breaking the sort
            for (row, value) in values.enumerated() where value < lowest.value { lowest = (value, rows(candidates)[row]) }
            try search.tell(values)
        }
        #expect(search.best.value == lowest.value)
        #expect(search.best.point == lowest.point)
    }

    @Test("a tell with the wrong count, or without an ask, throws and changes nothing", arguments: methods)
    func badTellThrows(method: AdaptationMethod) throws {
        let search = try makeSearch(method)
        #expect(throws: AdaptationError.self) { try search.tell([1, 2]) }  // no ask yet
        let candidates = search.ask()
        let (mean, iteration) = (search.mean, search.iteration)
        #expect(throws: AdaptationError.self) { try search.tell([Double](repeating: 1, count: search.population + 1)) }
        #expect(search.mean == mean && search.iteration == iteration && search.best.point.isEmpty)
        try search.tell(sphere(candidates))
        #expect(search.iteration == iteration + 1)
        #expect(throws: AdaptationError.self) { try search.tell(sphere(candidates)) }  // the same ask twice
    }

    @Test("the best sample is saved and restored with the search; a state without one restores none", arguments: methods)
    func bestSurvivesRestore(method: AdaptationMethod) throws {
        let search = try makeSearch(method)
        for _ in 0..<3 { try search.tell(sphere(search.ask())) }
        var state = SearchState()
        search.save(into: &state)
        let resumed = try makeSearch(method)
        try resumed.restore(from: state)
        #expect(resumed.best == search.best)
        // The next iteration is the same on both: the restore covers everything ask/tell reads.
        let (next, resumedNext) = (search.ask(), resumed.ask())
        #expect(next.elements == resumedNext.elements)

        let withoutBest = SearchState(reading: state.tensors.filter { !$0.name.contains(".best.") })
        let older = try makeSearch(method)
        try older.restore(from: withoutBest)
        #expect(older.best.point.isEmpty && older.mean == search.mean)
    }
}
