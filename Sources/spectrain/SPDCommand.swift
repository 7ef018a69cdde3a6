import ArgumentParser
import Foundation
import Spectral
import Support

/// A run of `spectrain spd`: the problem and both solvers' settings.
struct SPDConfiguration: Decodable {
    var problem: SPDProblem<Double>.Kind
    var dimension: Int
    /// Condition number of each target matrix.
    var condition: Double
    /// Number of matrices to average (karcher only).
    var count: Int
    var seed: UInt64
    var tolerance: Double
    var maxIterations: Int
    var spectral: SpectralFactorOptions
    var riemannian: RiemannianOptions

    struct RiemannianOptions: Decodable {
        var stepSize: Double

        enum CodingKeys: String, CodingKey, CaseIterable { case stepSize }

        init(from decoder: any Decoder) throws {
            try rejectUnknownFields(decoder, CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            stepSize = try container.decode(Double.self, forKey: .stepSize)
            guard stepSize > 0 && stepSize.isFinite else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.stepSize], debugDescription: "must be > 0, got \(stepSize)"))
            }
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case problem, dimension, condition, count, seed, tolerance, maxIterations, spectral, riemannian
    }

    init(from decoder: any Decoder) throws {
        try rejectUnknownFields(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        problem = try container.decode(SPDProblem<Double>.Kind.self, forKey: .problem)
        dimension = try container.decode(Int.self, forKey: .dimension)
        condition = try container.decodeIfPresent(Double.self, forKey: .condition) ?? 10
        count = try container.decodeIfPresent(Int.self, forKey: .count) ?? (problem == .karcher ? 10 : 1)
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        tolerance = try container.decodeIfPresent(Double.self, forKey: .tolerance) ?? 1e-6
        maxIterations = try container.decodeIfPresent(Int.self, forKey: .maxIterations) ?? 10_000
        spectral = try container.decodeIfPresent(SpectralFactorOptions.self, forKey: .spectral) ?? .init(eigenvalueMap: .trunc2)
        riemannian = try container.decode(RiemannianOptions.self, forKey: .riemannian)
        func invalid(_ key: CodingKeys, _ message: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: [key], debugDescription: message))
        }
        guard (2...4096).contains(dimension) else { throw invalid(.dimension, "must be in 2...4096, got \(dimension)") }
        guard condition >= 1 && condition.isFinite else { throw invalid(.condition, "must be >= 1, got \(condition)") }
        guard count >= 1 && (problem == .karcher ? count >= 2 : count == 1) else {
            throw invalid(.count, problem == .karcher ? "must be >= 2 matrices, got \(count)" : "applies to karcher only (1 target), got \(count)")
        }
        guard tolerance > 0 && tolerance < 1 else { throw invalid(.tolerance, "must be in (0, 1), got \(tolerance)") }
        guard maxIterations >= 1 else { throw invalid(.maxIterations, "must be >= 1, got \(maxIterations)") }
    }
}

/// `spectrain spd CONFIG`: one SPD matrix problem solved by the spectral update and by
/// eigendecomposition-based Riemannian gradient descent, side by side.
struct SPD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spd",
        abstract: "Solve an SPD matrix problem by spectral steps and by Riemannian GD; compare them.",
        discussion: """
            Problems (configs/spd-*.json): gaussian  F = tr(A S^-1) + log det S;  frobenius  F = ||S - A||^2 / 2;
            karcher  the geometric mean of N matrices. Both solvers start at S = I and stop at the
            configured relative error to the solution (for karcher: a fixed-point reference run to 1e-12).
            Float64 throughout.
            """)

    @Argument(help: "The JSON configuration.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration field, e.g. --set spectral.curvatureLearningRate=0.3.", valueName: "key=value"))
    var overrides: [String] = []

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        let settings = try ConfigurationFile.load(SPDConfiguration.self, from: config, overrides: overrides)
        let job = try Runtime.start(runtime)
        guard job.isRoot else { return }
        let problem = SPDProblem<Double>.random(
            kind: settings.problem, dimension: settings.dimension, condition: settings.condition,
            count: settings.count, seed: settings.seed)
        let clock = ContinuousClock()
        var reference = problem.closedFormSolution
        var referenceNote = "closed form"
        if reference == nil {
            let start = clock.now
            reference = try RiemannianGradientDescent.karcherMean(problem, tolerance: 1e-12, maxIterations: 1000)
            referenceNote = "fixed point to gradient norm 1e-12 (\(format(start.duration(to: clock.now).inSeconds)) s)"
        }
        job.report("spd \(settings.problem.rawValue): k = \(settings.dimension), condition \(format(settings.condition))\(settings.problem == .karcher ? ", \(settings.count) matrices" : ""), seed \(settings.seed), tolerance \(settings.tolerance); solution: \(referenceNote)")
        let spectral = try SpectralSPDSolver(options: settings.spectral)
            .solve(problem, reference: reference!, tolerance: settings.tolerance, maxIterations: settings.maxIterations)
        let riemannian = try RiemannianGradientDescent(stepSize: settings.riemannian.stepSize)
            .solve(problem, reference: reference!, tolerance: settings.tolerance, maxIterations: settings.maxIterations)
        let reports = [spectral, riemannian]
        var rows = [["method", "step", "iterations", "relative error", "objective", "eigendecompositions", "seconds", "converged"]]
        for (report, step) in zip(reports, [settings.spectral.curvatureLearningRate, settings.riemannian.stepSize]) {
            rows.append([
                report.method, "\(step)", "\(report.iterations)", String(format: "%.2e", report.relativeError),
                String(format: "%.6g", report.objective), "\(report.eigendecompositions)",
                String(format: "%.3f", report.seconds), report.converged ? "yes" : "no",
            ])
        }
        for line in TextTable.render(rows) { job.report(line) }
        if spectral.converged && riemannian.converged {
            job.report("wall time: spectral / Riemannian GD = \(String(format: "%.2f", spectral.seconds / riemannian.seconds))")
        }
        let unconverged = reports.filter { !$0.converged }.map(\.method)
        if !unconverged.isEmpty {
            throw ValidationError("did not reach relative error \(settings.tolerance) within \(settings.maxIterations) iterations: \(unconverged.joined(separator: ", "))")
        }
    }
}
