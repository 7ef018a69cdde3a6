import ArgumentParser
import Foundation
import Linalg
import Spectral
import Support

/// `spectrain spd CONFIG --sizes ...`: the spectral solver and Riemannian GD side by side over
/// matrix sizes and precisions, one Markdown row per size and precision as soon as it is measured,
/// each row with a GEMM of its size timed in the same run as the unit of cost.
///
/// Both precisions solve the same matrices: the Float64 problem, rounded to Float32.
struct SPDSizeTable {
    /// A precision the solvers run in, named as on the command line.
    enum Precision: String, CaseIterable {
        case float64, float32
    }

    /// The problem and both solvers' settings; its `dimension` is replaced by each size.
    var settings: SPDConfiguration
    var sizes: [Int]
    var precisions: [Precision]
    /// The lowest tolerance a Float32 row is held to: Float32's unit roundoff is 6e-8, and the
    /// solvers' k-term sums and eigendecompositions grow that error with k, so a Float64
    /// tolerance such as 1e-6 is out of a Float32 solve's reach at large k.
    var float32Tolerance: Double

    /// One size and precision, measured.
    struct Row {
        var size: Int
        var precision: Precision
        var tolerance: Double
        /// The best of three k x k x k GEMM calls in this precision, in seconds.
        var gemmSeconds: Double
        var spectral: SPDSolverReport
        /// The spectral solve's counted floating-point work (`BLAS.productOperations`: its
        /// products, LU factorizations and solves).
        var spectralOperations: Int
        var riemannian: SPDSolverReport

        var gemmGFLOPs: Double { 2 * pow(Double(size), 3) / gemmSeconds / 1e9 }

        /// The methods that did not reach the tolerance.
        var unconverged: [String] {
            [(spectral, "spectral"), (riemannian, "Riemannian GD")].filter { !$0.0.converged }.map(\.1)
        }

        var cells: [String] {
            func millisecondsPerIteration(_ report: SPDSolverReport) -> Double? {
                report.iterations > 0 ? 1e3 * report.seconds / Double(report.iterations) : nil
            }
            let spectralMilliseconds = millisecondsPerIteration(spectral)
            let riemannianMilliseconds = millisecondsPerIteration(riemannian)
            return [
                "\(size)", precision.rawValue, String(format: "%g", tolerance), format(gemmGFLOPs),
                "\(spectral.iterations)", "\(spectral.steps)", String(format: "%.3f", spectral.seconds), spectralMilliseconds.map(format) ?? "-",
                spectralMilliseconds.map { format($0 / (1e3 * gemmSeconds)) } ?? "-",
                spectral.seconds > 0 ? format(Double(spectralOperations) / spectral.seconds / 1e9) : "-",
                "\(riemannian.iterations)", String(format: "%.3f", riemannian.seconds), riemannianMilliseconds.map(format) ?? "-",
                riemannian.seconds > 0 ? String(format: "%.2f", spectral.seconds / riemannian.seconds) : "-",
                String(format: "%.3f", spectral.seconds - spectral.evaluationSeconds),
                String(format: "%.3f", riemannian.seconds - riemannian.evaluationSeconds),
                spectral.converged ? "yes" : "no", riemannian.converged ? "yes" : "no",
            ]
        }

        static let header = [
            "k", "precision", "tolerance", "GEMM GFLOP/s", "spectral iterations", "spectral steps", "spectral seconds", "spectral ms/iteration",
            "spectral iteration / GEMM", "spectral GFLOP/s", "GD iterations", "GD seconds", "GD ms/iteration", "spectral / GD seconds",
            "spectral own seconds", "GD own seconds", "spectral converged", "GD converged",
        ]
    }

    /// Measures every size in every precision, printing each row when it is done, and throws a
    /// one-line error naming the rows where a solver did not converge once the table is complete.
    func run(job: Runtime) throws {
        job.report(contextLine(job: job))
        // Wide enough for k up to 4096, so that rows line up in a terminal too.
        let widths = Row.header.map { max(4, $0.count) }
        job.report(Self.markdownLine(Row.header, widths: widths))
        job.report(Self.markdownLine(widths.map { String(repeating: "-", count: $0) }, widths: widths))
        var failures: [String] = []
        for size in sizes {
            let problem = settings.randomProblem(dimension: size)
            let reference = try SPDConfiguration.reference(of: problem)
            for precision in precisions {
                let row = switch precision {
                case .float64:
                    try measure(problem, reference: reference, precision: precision, tolerance: settings.tolerance)
                case .float32:
                    try measure(
                        Self.rounded(problem, to: Float.self), reference: reference.converted(to: Float.self), precision: precision,
                        tolerance: max(settings.tolerance, float32Tolerance))
                }
                job.report(Self.markdownLine(row.cells, widths: widths))
                if !row.unconverged.isEmpty {
                    failures.append("k = \(size) \(precision.rawValue) (\(row.unconverged.joined(separator: ", ")))")
                }
            }
        }
        if !failures.isEmpty {
            throw ValidationError("did not reach the row's tolerance within \(settings.maxIterations) iterations: \(failures.joined(separator: "; "))")
        }
    }

    /// `problem` with its targets rounded to `Scalar`.
    static func rounded<Scalar: LinalgScalar>(_ problem: SPDProblem<Double>, to _: Scalar.Type) -> SPDProblem<Scalar> {
        // Kind is nested in the generic type: SPDProblem<Float>.Kind is another type with the same cases.
        guard let kind = SPDProblem<Scalar>.Kind(rawValue: problem.kind.rawValue) else {
            preconditionFailure("SPDProblem.Kind '\(problem.kind.rawValue)' differs between precisions")
        }
        return SPDProblem(kind: kind, targets: problem.targets.map { $0.converted(to: Scalar.self) })
    }

    /// The GEMM of this size, then the spectral solver, then Riemannian GD, back to back, on
    /// `problem` in its own precision.
    func measure<Scalar: LinalgScalar>(
        _ problem: SPDProblem<Scalar>, reference: Matrix<Scalar>, precision: Precision, tolerance: Double
    ) throws -> Row {
        let k = problem.dimension
        var generator = SeededGenerator(seed: UInt64(k))
        let a = Matrix<Scalar>.gaussian(rows: k, columns: k, using: &generator)
        let b = Matrix<Scalar>.gaussian(rows: k, columns: k, using: &generator)
        var c = Matrix<Scalar>(rows: k, columns: k)
        let gemm = Timing.measure(minTime: 0, minCalls: 3) { BLAS.gemm(a, b, into: &c) }
        let operationsBefore = BLAS.productOperations.load(ordering: .relaxed)
        let spectral = try settings.spectralSolver
            .solve(problem, reference: reference, tolerance: tolerance, maxIterations: settings.maxIterations)
        let spectralOperations = BLAS.productOperations.load(ordering: .relaxed) - operationsBefore
        let riemannian = try RiemannianGradientDescent(stepSize: settings.riemannian.stepSize)
            .solve(problem, reference: reference, tolerance: tolerance, maxIterations: settings.maxIterations)
        return Row(
            size: k, precision: precision, tolerance: tolerance, gemmSeconds: gemm.best,
            spectral: spectral, spectralOperations: spectralOperations, riemannian: riemannian)
    }

    /// What the table measured, where and when, as its first line.
    func contextLine(job: Runtime) -> String {
        let karcher = settings.problem == .karcher ? ", \(settings.count) matrices (reference: fixed point to gradient norm \(SPDConfiguration.karcherReferenceTolerance), untimed)" : ""
        var rule = settings.stepRule == .scaled ? "scaled, pair damping \(settings.pairDamping)" : settings.stepRule.rawValue
        if settings.stepsPerCurvature > 1 {
            rule += ", up to \(settings.stepsPerCurvature) steps per curvature to ||K||_2 <= \(settings.substepRotationTolerance)"
        }
        return "spd \(settings.problem.rawValue) by size: condition \(format(settings.condition))\(karcher), seed \(settings.seed), "
            + "spectral rate \(settings.spectral.curvatureLearningRate) (\(settings.spectral.retraction.name), \(rule)), "
            + "Riemannian GD step \(settings.riemannian.stepSize), at most \(settings.maxIterations) iterations; "
            + "\(BLASThreading.onlineCores()) cores online, \(job.blas.threads) BLAS thread(s) (\(job.blas.reason)), "
            + "OpenBLAS core \(BLASThreading.coreName); \(ISO8601DateFormatter().string(from: Date()))"
    }

    /// A Markdown table line, each cell padded to at least its column's width.
    static func markdownLine(_ cells: [String], widths: [Int]) -> String {
        "| " + zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }
            .joined(separator: " | ") + " |"
    }
}

extension SPDSizeTable {
    /// The dimensions of a `--sizes` list such as "200,400,800": each in the configuration's
    /// dimension range, none twice.
    static func parseSizes(_ text: String) throws -> [Int] {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--sizes: no sizes given") }
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var sizes: [Int] = []
        for item in items {
            guard !item.isEmpty else { throw ValidationError("--sizes: an empty item in '\(text)'") }
            guard let size = Int(item) else { throw ValidationError("--sizes: '\(item)' is not an integer") }
            guard SPDConfiguration.dimensionRange.contains(size) else {
                throw ValidationError("--sizes: '\(item)' is outside the dimension range \(SPDConfiguration.dimensionRange)")
            }
            guard !sizes.contains(size) else { throw ValidationError("--sizes: '\(item)' is listed twice") }
            sizes.append(size)
        }
        return sizes
    }

    /// The precisions of a `--precisions` list such as "float64,float32", in the order given, none twice.
    static func parsePrecisions(_ text: String) throws -> [Precision] {
        let names = Precision.allCases.map(\.rawValue).joined(separator: ", ")
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--precisions: no precisions given (\(names))") }
        var precisions: [Precision] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let precision = Precision(rawValue: item) else {
                throw ValidationError("--precisions: '\(item)' is not one of \(names)")
            }
            guard !precisions.contains(precision) else { throw ValidationError("--precisions: '\(item)' is listed twice") }
            precisions.append(precision)
        }
        return precisions
    }

    /// Checks a `--float32-tolerance` value: a relative error in (0, 1).
    static func checkFloat32Tolerance(_ value: Double) throws {
        guard value > 0, value < 1 else { throw ValidationError("--float32-tolerance must be in (0, 1), got \(value)") }
    }
}
