import Checkpoint
import Cluster
import Foundation
import DistributedSearch
@testable import GradientFree
import Linalg
import Testing

@Suite("Search runs: resume, noise")
struct SearchRunTests {
    /// The outcome without its seconds (the one field a resumed run may not repeat).
    static func comparable(_ outcome: AdaptationRun.Outcome) -> AdaptationRun.Outcome {
        var copy = outcome
        copy.seconds = 0
        return copy
    }

    /// Runs `settings` to the end, saving the state after iteration `saveAt` (of the whole run),
    /// then continues a new run from that state: both outcomes, and the f(mean) trace of each
    /// after `saveAt`.
    static func straightAndResumed(
        _ settings: SearchRun.Settings, objective: () -> any ObjectiveFunction, saveAt: Int
    ) throws -> (straight: AdaptationRun.Outcome, resumed: AdaptationRun.Outcome, traces: ([Double], [Double])) {
        var saved: SearchState?
        var straightTrace: [Double] = []
        let straight = try SearchRun(settings: settings).run(objective: objective(), communicator: SingleProcessCommunicator()) { run in
            if run.iterations == saveAt {
                var state = SearchState()
                run.save(into: &state)
                saved = state
            }
            if run.iterations > saveAt { straightTrace.append(run.meanValue!) }
        }
        let state = try #require(saved, "the run ended before iteration \(saveAt)")
        // Through the bytes a checkpoint holds.
        let stored = try SafeTensors.decode(SafeTensors.encode(state.tensors, metadata: [:]), path: "state").tensors
        var resumedTrace: [Double] = []
        let resumed = try SearchRun(settings: settings, resumingFrom: SearchState(reading: Array(stored.values)))
            .run(objective: objective(), communicator: SingleProcessCommunicator()) { run in resumedTrace.append(run.meanValue!) }
        return (straight, resumed, (straightTrace, resumedTrace))
    }

    /// Each method's state (CMA with a lazy basis, whose accumulated rotation is state too; the
    /// xNES form; exact xNES) saved mid-run and restored into a new run continues bit for bit:
    /// the same f(mean) at every later iteration, the same outcome.
    @Test("a run resumed from its saved state continues bit for bit", arguments: [
        AdaptationOptions(method: .cma), AdaptationOptions(method: .cma, basisUpdateInterval: 3),
        AdaptationOptions(method: .spectral), AdaptationOptions(method: .xnes),
    ])
    func resumeIsExact(options: AdaptationOptions) throws {
        let settings = SearchRun.Settings(
            options: options, dimension: 6, start: [Double](repeating: 3, count: 6), seed: 3, stop: .init(target: 1e-10, maxEvaluations: 6_000))
        let (straight, resumed, traces) = try Self.straightAndResumed(
            settings, objective: { Objective(kind: .ellipsoid, dimension: 6, condition: 1e4, rotationSeed: 2) }, saveAt: 37)
        #expect(Self.comparable(straight) == Self.comparable(resumed))
        #expect(traces.0 == traces.1 && traces.0.count > 10)
    }

    /// IPOP state (the restart, its population, the evaluations and best sample of the searches
    /// before, the stagnation window) resumes too: saved after the first restart and in the middle
    /// of a stagnation window.
    @Test("an IPOP run resumed after a restart continues bit for bit")
    func resumeAfterRestart() throws {
        let settings = SearchRun.Settings(
            options: AdaptationOptions(), dimension: 5, start: [Double](repeating: 3, count: 5), seed: 7, restarts: 4,
            stop: .init(target: 1e-8, maxEvaluations: 30_000))
        let objective = { Objective(kind: .rastrigin, dimension: 5, rotationSeed: 1) as any ObjectiveFunction }
        var firstRestart: Int?
        _ = try SearchRun(settings: settings).run(objective: objective(), communicator: SingleProcessCommunicator()) { run in
            if run.restart == 1 && firstRestart == nil { firstRestart = run.iterations }
        }
        let restartIteration = try #require(firstRestart, "no restart happened")
        let (straight, resumed, traces) = try Self.straightAndResumed(settings, objective: objective, saveAt: restartIteration + 5)
        #expect(straight.restarts >= 1)
        #expect(Self.comparable(straight) == Self.comparable(resumed))
        #expect(traces.0 == traces.1)
    }

    /// A state that does not fit is refused with one line naming the tensor, before anything
    /// changes: missing, the wrong shape, NaN, eigenvectors that are not orthonormal, and a
    /// restart the configuration does not allow.
    @Test("a damaged or foreign search state is one line naming the tensor")
    func damagedState() throws {
        let settings = SearchRun.Settings(
            options: AdaptationOptions(), dimension: 4, start: [3, 3, 3, 3], seed: 1, stop: .init(target: 1e-10, maxEvaluations: 400))
        var saved = SearchState()
        _ = try SearchRun(settings: settings).run(objective: Objective(kind: .sphere, dimension: 4), communicator: SingleProcessCommunicator()) { run in
            if run.iterations == 5 { run.save(into: &saved) }
        }
        func altered(_ name: String, _ change: (inout StoredTensor) -> Void) -> SearchState {
            SearchState(reading: saved.tensors.map { tensor in
                var copy = tensor
                if copy.name == name { change(&copy) }
                return copy
            })
        }
        func doubles(_ values: [Double]) -> (inout StoredTensor) -> Void {
            { tensor in tensor = StoredTensor(name: tensor.name, shape: tensor.shape, doubles: values) }
        }
        var rotated = Matrix<Double>.identity(4)
        rotated[0, 1] = 0.5
        let cases: [(SearchState, SearchRun.Settings, String)] = [
            (SearchState(reading: saved.tensors.filter { $0.name != "cma.stepSizePath" }), settings, "search state 'cma.stepSizePath' is missing"),
            (altered("cma.mean") { $0 = StoredTensor(name: $0.name, shape: [3], doubles: [0, 0, 0]) }, settings,
             "search state 'cma.mean' is [3] F64, expected [4] F64"),
            (altered("cma.stepSize", doubles([.nan])), settings, "search state 'cma.stepSize' holds NaN or infinity"),
            (altered("cma.stepSize", doubles([-1])), settings, "search state 'cma.stepSize' is -1.0, not positive"),
            (altered("cma.covariance.eigenvectors", doubles(rotated.elements)), settings, "eigenvectors are not orthonormal"),
            (altered("run.counters") { $0 = StoredTensor(name: $0.name, shape: [6], integers: [1, 16, 0, 0, 0, 0]) }, settings,
             "search state 'run.counters': restart 1, but the configuration allows 0"),
            (saved, SearchRun.Settings(options: AdaptationOptions(populationSize: 12), dimension: 4, start: [3, 3, 3, 3], seed: 1, stop: settings.stop),
             "search state 'run.counters': population 8, but the configuration gives 12"),
        ]
        for (state, caseSettings, message) in cases {
            #expect {
                _ = try SearchRun(settings: caseSettings, resumingFrom: state)
            } throws: { error in
                let text = "\(error)"
                return text.contains(message) && !text.contains("\n")
            }
        }
    }

    /// Additive noise of level 1 on a sphere: f(mean) falls below 1e-10 on about every other
    /// evaluation wherever the mean is, so with one evaluation of f(mean) the run "succeeds"
    /// almost at once far from the minimum; with 20 confirmations (a false success then has odds
    /// of about 1e-6 per iteration) it runs to its budget instead.
    @Test("with target confirmations one lucky f(mean) of a noisy function does not end the run")
    func confirmations() throws {
        func run(confirmations: Int) throws -> (AdaptationRun.Outcome, Double) {
            let sphere = Objective(kind: .sphere, dimension: 5)
            let settings = SearchRun.Settings(
                options: AdaptationOptions(), dimension: 5, start: [Double](repeating: 3, count: 5), seed: 1,
                stop: .init(target: 1e-10, maxEvaluations: 3_000), noise: .init(targetConfirmations: confirmations))
            let outcome = try SearchRun(settings: settings).run(
                objective: NoisyObjective(sphere, kind: .additive, level: 1, seed: 1), communicator: SingleProcessCommunicator())
            return (outcome, outcome.mean.withUnsafeBufferPointer { sphere.value($0) })
        }
        let (once, trueValueOnce) = try run(confirmations: 1)
        #expect(once.reachedTarget && trueValueOnce > 1e-3, "a false success far from the minimum: true f \(trueValueOnce)")
        let (confirmed, _) = try run(confirmations: 20)
        #expect(!confirmed.reachedTarget && confirmed.stopReason == .evaluations)
    }

    /// Every repeated evaluation is counted, and the median of repeats tames noise: on a sphere
    /// with multiplicative noise of level 1, 5 evaluations per candidate end a fixed budget of
    /// iterations nearer the minimum than 1 does.
    @Test("evaluations per candidate are counted and their median steadies a noisy search")
    func repeatedEvaluations() throws {
        func run(repeats: Int) throws -> (AdaptationRun.Outcome, Double) {
            let sphere = Objective(kind: .sphere, dimension: 8)
            let settings = SearchRun.Settings(
                options: AdaptationOptions(), dimension: 8, start: [Double](repeating: 3, count: 8), seed: 2,
                stop: .init(target: -1, maxEvaluations: 10 * 300 * repeats), noise: .init(evaluationsPerCandidate: repeats))
            let outcome = try SearchRun(settings: settings).run(
                objective: NoisyObjective(sphere, kind: .multiplicative, level: 1, seed: 2), communicator: SingleProcessCommunicator())
            return (outcome, outcome.mean.withUnsafeBufferPointer { sphere.value($0) })
        }
        let (single, singleValue) = try run(repeats: 1)
        let (repeated, repeatedValue) = try run(repeats: 5)
        #expect(single.iterations == 300 && repeated.iterations == 300)
        #expect(single.evaluations == 3_000 && repeated.evaluations == 15_000)
        #expect(repeatedValue < singleValue, "true f(mean) \(repeatedValue) with 5 repeats, \(singleValue) with 1")
        var values = [0.0, 0.0]
        SearchRun.medians(of: [[3, 1], [1, .nan], [2, 5]], into: &values)
        #expect(values == [2, 5])
    }

    /// The noise of an evaluation depends on the round and the point only, so a noisy run takes
    /// the same steps on 2 and 3 ranks as on 1.
    @Test("a noisy run takes the same steps on 1, 2 and 3 ranks")
    func noisyRanks() throws {
        func trace(ranks: Int) throws -> [Double] {
            let traces = try ThreadCommunicator.run(ranks: ranks) { communicator in
                let noisy = NoisyObjective(Objective(kind: .ellipsoid, dimension: 6, condition: 100), kind: .multiplicative, level: 0.3, seed: 9)
                let settings = SearchRun.Settings(
                    options: AdaptationOptions(), dimension: 6, start: [Double](repeating: 1, count: 6), seed: 4,
                    stop: .init(target: 0, maxEvaluations: 900), noise: .init(evaluationsPerCandidate: 3, targetConfirmations: 2))
                var values: [Double] = []
                let outcome = try SearchRun(settings: settings).run(objective: noisy, communicator: communicator) { values.append($0.meanValue!) }
                return values + outcome.mean
            }
            #expect(traces.allSatisfy { $0 == traces[0] })
            return traces[0]
        }
        let single = try trace(ranks: 1)
        #expect(try trace(ranks: 2) == single)
        #expect(try trace(ranks: 3) == single)
    }
}
