import ArgumentParser
import Foundation
import Linalg
import Spectral
import Support
import Train

/// A run of `spectrain spd`: the problem and both solvers' settings.
struct SPDConfiguration: ConfigRecord {
    var problem: SPDProblem<Double>.Kind
    var dimension: Int
    /// Condition number of each target matrix.
    var condition = 10.0
    /// Number of matrices to average (karcher only). Default: 10 for karcher, else 1.
    var count: Int
    var seed: UInt64 = 1
    var tolerance = 1e-6
    var maxIterations = 10_000
    var spectral = SpectralFactorOptions(eigenvalueMap: .trunc2)
    /// The spectral solver's rotation rule (`SPDStepRule`): `jacobi` turns each pair of
    /// eigenvectors by the Jacobi angle of the step's target, `scaled` by its first-order angle
    /// damped by its own off-diagonal curvature; both clip `||K||_2` at `spectral.rotationClip`
    /// (`spectral.gapDamping` is not used). `factor` is the factor's own update, fixed
    /// `spectral.gapDamping` and a clip on `||K||_F`.
    var stepRule = StepRuleName.jacobi
    /// The constant `c` of the scaled rule's pair damping (`SPDStepRule.scaled`).
    var pairDamping = 4.0
    /// Spectral steps toward each curvature evaluation's target, at most (`SPDSubsteps`).
    var stepsPerCurvature = 1
    /// Those steps stop after one whose rotation has `||K||_2` at most this.
    var substepRotationTolerance = 0.01
    var riemannian: RiemannianOptions

    /// The names of `SPDStepRule`'s cases in a config.
    enum StepRuleName: String, NamedChoice {
        case jacobi, scaled, factor
    }

    /// The spectral solver these settings describe.
    var spectralSolver: SpectralSPDSolver {
        SpectralSPDSolver(
            options: spectral, stepRule: spectralStepRule,
            substeps: SPDSubsteps(maximum: stepsPerCurvature, rotationTolerance: substepRotationTolerance))
    }

    /// The rule the spectral solver follows.
    var spectralStepRule: SPDStepRule {
        switch stepRule {
        case .jacobi: .jacobi
        case .scaled: .scaled(pairDamping: pairDamping)
        case .factor: .factor
        }
    }

    struct RiemannianOptions: ConfigRecord {
        var stepSize: Double

        static let fields: [ConfigField<RiemannianOptions>] = [.required("stepSize", \.stepSize, .above(0))]

        static func defaults(given: GivenFields<RiemannianOptions>) throws -> RiemannianOptions {
            RiemannianOptions(stepSize: try given.required(\.stepSize))
        }
    }

    /// The problem these settings describe, at `dimension` (the config's, or a `--sizes` size).
    func randomProblem(dimension: Int) -> SPDProblem<Double> {
        SPDProblem<Double>.random(kind: problem, dimension: dimension, condition: condition, count: count, seed: seed)
    }

    /// The whitened-gradient norm the Karcher reference's fixed point runs to.
    static let karcherReferenceTolerance = 1e-12

    /// The solution both solvers are measured against: the closed form, or for karcher
    /// Riemannian GD's fixed point run to `karcherReferenceTolerance`.
    static func reference(of problem: SPDProblem<Double>) throws -> Matrix<Double> {
        try problem.closedFormSolution
            ?? RiemannianGradientDescent.karcherMean(problem, tolerance: karcherReferenceTolerance, maxIterations: 1000)
    }

    /// The matrix sizes k a run may ask for (`dimension`, `spd --sizes`).
    static let dimensionRange = 2...4096

    /// The Float64 k x k matrices a run holds at once, at most: each target and its Cholesky
    /// factor, and about 40 more for the solvers, the reference and `--sizes`' Float32 copies.
    func matricesHeld() -> Int { 2 * count + 40 }

    /// The one-line problem when a run at `dimension` needs more memory than this machine has
    /// (checked before any matrix is made), nil when it fits or the memory is unknown.
    func memoryProblem(dimension: Int, physicalMemory: Int? = MemoryBudget.physicalMemoryBytes) -> String? {
        guard let physicalMemory else { return nil }
        let bytes = MemoryBudget.product([matricesHeld(), dimension, dimension, MemoryLayout<Double>.size])
        guard bytes > physicalMemory else { return nil }
        return "\(count) matrices of \(dimension) x \(dimension) need about \(MemoryBudget.format(bytes)) with the solvers' work, "
            + "more than this machine's \(MemoryBudget.format(physicalMemory))"
    }

    static let fields: [ConfigField<SPDConfiguration>] = [
        .required("problem", \.problem),
        .required("dimension", \.dimension, .in(dimensionRange)),
        .init("condition", \.condition, .atLeast(1)),
        .init("count", \.count),
        .check(at: \.count, summary: "karcher: >= 2; the other problems: 1") { settings in
            if settings.problem == .karcher {
                settings.count >= 2 ? nil : "must be >= 2 matrices, got \(settings.count)"
            } else {
                settings.count == 1 ? nil : "applies to karcher only (1 target), got \(settings.count)"
            }
        },
        .check(at: \.count, summary: "fits in memory at dimension") { $0.memoryProblem(dimension: $0.dimension) },
        .init("seed", \.seed),
        .init("tolerance", \.tolerance, .in(0..<1, excludingLower: true)),
        .init("maxIterations", \.maxIterations, .atLeast(1)),
        .init("spectral", \.spectral),
        .init("stepRule", \.stepRule),
        .init("pairDamping", \.pairDamping, .above(0)),
        .check(at: \.pairDamping, summary: "stepRule scaled only") { settings in
            settings.stepRule == .scaled || settings.pairDamping == 4 ? nil
                : "applies to stepRule scaled only, not \(settings.stepRule.rawValue)"
        },
        .init("stepsPerCurvature", \.stepsPerCurvature, .in(1...1000)),
        .check(at: \.stepsPerCurvature, summary: "1 with stepRule factor") { settings in
            settings.stepRule != .factor || settings.stepsPerCurvature == 1 ? nil
                : "must be 1 with stepRule factor, got \(settings.stepsPerCurvature)"
        },
        .init("substepRotationTolerance", \.substepRotationTolerance, .in(0...1)),
        .required("riemannian", \.riemannian),
    ]

    /// The defaults of the problem given.
    static func defaults(given: GivenFields<SPDConfiguration>) throws -> SPDConfiguration {
        let problem = try given.required(\.problem)
        return SPDConfiguration(
            problem: problem, dimension: try given.required(\.dimension), count: problem == .karcher ? 10 : 1,
            riemannian: try given.required(\.riemannian))
    }
}

/// `spectrain spd CONFIG`: one SPD matrix problem solved by the spectral update and by
/// eigendecomposition-based Riemannian gradient descent, side by side.
struct SPD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spd",
        abstract: "Solve an SPD matrix problem by spectral steps and by Riemannian GD; compare them.",
        discussion: """
            Problems (configs/spd-*.json): gaussian  F = tr(A S^-1) + log det S;
            frobenius  F = ||S - A||^2 / 2; karcher  the geometric mean of N matrices.
            Both solvers start at S = I and stop at the configured relative error to
            the solution (for karcher: a fixed-point reference run to \(SPDConfiguration.karcherReferenceTolerance)).
            Float64 throughout, unless --sizes asks for Float32.

            With --sizes (e.g. --sizes 200,400,800) each size replaces the config's
            dimension in turn and runs in each of --precisions: the Float64 problem,
            rounded to Float32 for the Float32 run, so that both precisions solve the
            same matrices. Float32 rows stop at max(tolerance, --float32-tolerance).
            Per size and precision, back to back: the best of three k x k x k GEMM
            calls in that precision (after a warm-up), the spectral solver, then
            Riemannian GD. Each row is printed as a Markdown table row as soon as it
            is done; a row where a solver did not converge stays in the table, and
            the command fails at the end naming it.
            """)

    @Argument(help: "The JSON configuration.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration field, e.g. --set spectral.curvatureLearningRate=0.3.", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Compare the solvers over these matrix sizes (2...4096) instead of the config's dimension.", valueName: "k,k,..."))
    var sizes: String?

    @Option(help: ArgumentHelp("With --sizes: the precisions to run each size in (default: float64,float32).", valueName: "list"))
    var precisions: String?

    @Option(help: ArgumentHelp("With --sizes: the lowest relative error a Float32 run is held to (default: 1e-4).", valueName: "tolerance"))
    var float32Tolerance: Double?

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if let sizes {
            _ = try SPDSizeTable.parseSizes(sizes)
        } else if precisions != nil || float32Tolerance != nil {
            throw ValidationError("\(precisions != nil ? "--precisions" : "--float32-tolerance") applies only with --sizes")
        }
        if let precisions { _ = try SPDSizeTable.parsePrecisions(precisions) }
        if let float32Tolerance { try SPDSizeTable.checkFloat32Tolerance(float32Tolerance) }
    }

    func run() throws {
        let settings = try ConfigurationFile.load(SPDConfiguration.self, from: config, overrides: overrides)
        let job = try Runtime.start(runtime)
        guard job.isRoot else { return }
        if let sizes {
            let sizes = try SPDSizeTable.parseSizes(sizes)
            if let problem = sizes.lazy.compactMap({ settings.memoryProblem(dimension: $0) }).first {
                throw ValidationError("--sizes: \(problem)")
            }
            let table = SPDSizeTable(
                settings: settings, sizes: sizes,
                precisions: try precisions.map(SPDSizeTable.parsePrecisions) ?? [.float64, .float32],
                float32Tolerance: float32Tolerance ?? 1e-4)
            return try table.run(job: job)
        }
        let problem = settings.randomProblem(dimension: settings.dimension)
        let clock = ContinuousClock()
        let start = clock.now
        let reference = try SPDConfiguration.reference(of: problem)
        let referenceNote = problem.closedFormSolution != nil ? "closed form"
            : "fixed point to gradient norm \(SPDConfiguration.karcherReferenceTolerance) (\(format(start.duration(to: clock.now).inSeconds)) s)"
        job.report("spd \(settings.problem.rawValue): k = \(settings.dimension), condition \(format(settings.condition))\(settings.problem == .karcher ? ", \(settings.count) matrices" : ""), seed \(settings.seed), tolerance \(settings.tolerance); solution: \(referenceNote)")
        let spectral = try settings.spectralSolver
            .solve(problem, reference: reference, tolerance: settings.tolerance, maxIterations: settings.maxIterations)
        let riemannian = try RiemannianGradientDescent(stepSize: settings.riemannian.stepSize)
            .solve(problem, reference: reference, tolerance: settings.tolerance, maxIterations: settings.maxIterations)
        let reports = [spectral, riemannian]
        var rows = [["method", "step", "iterations", "steps", "relative error", "objective", "eigendecompositions", "seconds", "converged"]]
        for (report, step) in zip(reports, [settings.spectral.curvatureLearningRate, settings.riemannian.stepSize]) {
            rows.append([
                report.method, "\(step)", "\(report.iterations)", "\(report.steps)", String(format: "%.2e", report.relativeError),
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
