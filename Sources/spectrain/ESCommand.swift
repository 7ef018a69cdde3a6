import ArgumentParser
import Foundation
import GradientFree
import Support

/// A run of `spectrain es`: the objective, the methods to compare and their settings.
struct ESConfiguration: ConfigRecord {
    var objective: ObjectiveSettings
    var seed: UInt64 = 1
    var methods: [AdaptationMethod] = [.spectral, .xnes]
    var search = AdaptationOptions()
    var target = 1e-10
    var maxEvaluations = 1_000_000
    var logEvery = 0

    struct ObjectiveSettings: ConfigRecord {
        /// A built-in function (`Objective.Kind`), or `command`: the user's, computed by an
        /// external command.
        enum Kind: Equatable, Codable {
            case builtIn(Objective.Kind)
            case command

            var name: String {
                switch self {
                case .builtIn(let kind): kind.rawValue
                case .command: "command"
                }
            }

            init(from decoder: any Decoder) throws {
                let text = try decoder.singleValueContainer().decode(String.self)
                if text == "command" {
                    self = .command
                } else if let kind = Objective.Kind(rawValue: text) {
                    self = .builtIn(kind)
                } else {
                    let allowed = (Objective.Kind.allCases.map(\.rawValue) + ["command"]).joined(separator: ", ")
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not one of \(allowed)"))
                }
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode(name)
            }
        }

        var type: Kind
        var dimension: Int
        var condition = 1e4
        var rotationSeed: UInt64 = 0
        var start: Double?
        /// With `command`: the program and its arguments (see `CommandObjective`).
        var command: [String]?
        /// With `command`: how long one evaluation may take before the job ends with an error.
        var timeoutSeconds = 300.0

        static let fields: [ConfigField<ObjectiveSettings>] = [
            .required("type", \.type),
            .check(at: \.command) { settings in
                if settings.type == .command {
                    (settings.command ?? []).isEmpty ? "must name the program to run, e.g. [\"python3\", \"f.py\"]" : nil
                } else {
                    settings.command == nil ? nil : "applies to type command only"
                }
            },
            .required("dimension", \.dimension, .in(2...2000)),
            .init("condition", \.condition, .atLeast(1)),
            .init("rotationSeed", \.rotationSeed),
            .init("start", \.start, .finite),
            .init("command", \.command),
            .init("timeoutSeconds", \.timeoutSeconds, .in(0...86400, excludingLower: true)),
        ]

        static func defaults(given: GivenFields<ObjectiveSettings>) throws -> ObjectiveSettings {
            ObjectiveSettings(type: try given.required(\.type), dimension: try given.required(\.dimension))
        }
    }

    static let fields: [ConfigField<ESConfiguration>] = [
        .required("objective", \.objective),
        .init("seed", \.seed),
        .init("methods", \.methods, FieldRule({ !$0.isEmpty && Set($0).count == $0.count }, otherwise: {
            "must list spectral and/or xnes, each once, got \($0.map(\.rawValue))"
        })),
        .init("search", \.search),
        .init("target", \.target, .finite),
        .init("maxEvaluations", \.maxEvaluations, .atLeast(1)),
        .init("logEvery", \.logEvery, .atLeast(0)),
    ]

    static func defaults(given: GivenFields<ESConfiguration>) throws -> ESConfiguration {
        ESConfiguration(objective: try given.required(\.objective))
    }
}

/// `spectrain es CONFIG`: gradient-free minimisation by covariance adaptation, the spectral step
/// against exact xNES on the same samples, with the evaluations spread over the ranks.
struct ES: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "es",
        abstract: "Minimise a function without gradients: spectral covariance adaptation against exact xNES.",
        discussion: """
            Objectives (configs/es-*.json): sphere, ellipsoid (rotated, condition c), rosenbrock, or your own:
            "type": "command", "command": ["python3", "f.py"] reads points (one per line, numbers separated by
            spaces) on its standard input and writes one value per line, each within "timeoutSeconds" (default
            300; the command is killed and the job fails otherwise). The command runs in its own process group and
            is killed when spectrain ends, however it ends. Each method
            starts from the same point and draws the same samples; a run stops when f(mean) falls below the
            target. Under mpirun each rank evaluates a share of every iteration's samples. Float64.
            """)

    @Argument(help: "The JSON configuration.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration field, e.g. --set objective.dimension=20.", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(help: "Print the outcome of each method as one JSON line instead of a table.")
    var json = false

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        let settings = try ConfigurationFile.load(ESConfiguration.self, from: config, overrides: overrides)
        let job = try Runtime.start(runtime)
        let (objective, start) = Self.objective(settings.objective)
        defer { (objective as? CommandObjective)?.finish() }
        let n = settings.objective.dimension
        if !json {
            let type = settings.objective.type
            job.report("es \(type.name): n = \(n)\(type == .builtIn(.ellipsoid) ? ", condition \(format(settings.objective.condition))" : ""), \(settings.search.population(dimension: n)) samples per iteration, eta_S = \(format(settings.search.covarianceRate(dimension: n))), seed \(settings.seed), target f(mean) < \(String(format: "%g", settings.target)), on \(job.communicator.size) rank\(job.communicator.size == 1 ? "" : "s")")
        }
        var outcomes: [AdaptationRun.Outcome] = []
        for method in settings.methods {
            var options = settings.search
            options.method = method
            let adaptation = try CovarianceAdaptation(dimension: n, start: start, options: options, seed: settings.seed)
            let outcome = try AdaptationRun.run(
                adaptation, objective: objective, stop: .init(target: settings.target, maxEvaluations: settings.maxEvaluations),
                communicator: job.communicator, logEvery: json ? 0 : settings.logEvery
            ) { iteration, evaluations, meanValue, best in
                var line = String(format: "  %@: iteration %d, %d evaluations, f(mean) %.3e, best sample %.3e",
                                  method.rawValue, iteration, evaluations, meanValue, best)
                if let spread = adaptation.axisStandardDeviations {
                    line += String(format: ", axis spread %.2e..%.2e", spread.smallest, spread.largest)
                }
                job.report(line)
            }
            outcomes.append(outcome)
        }
        try report(outcomes, job: job)
        let missed = outcomes.filter { !$0.reachedTarget }.map(\.method)
        if !missed.isEmpty {
            throw ValidationError("did not reach f(mean) < \(String(format: "%g", settings.target)) within \(settings.maxEvaluations) evaluations: \(missed.joined(separator: ", "))")
        }
    }

    /// The objective the configuration names, and the point every method starts from.
    static func objective(_ settings: ESConfiguration.ObjectiveSettings) -> (any ObjectiveFunction, [Double]) {
        let objective: any ObjectiveFunction
        let conventionalStart: Double
        if case .builtIn(let kind) = settings.type {
            let builtIn = Objective(kind: kind, dimension: settings.dimension, condition: settings.condition, rotationSeed: settings.rotationSeed)
            (objective, conventionalStart) = (builtIn, builtIn.conventionalStart)
        } else {
            (objective, conventionalStart) = (CommandObjective(command: settings.command ?? [], dimension: settings.dimension, timeoutSeconds: settings.timeoutSeconds), 0)
        }
        return (objective, [Double](repeating: settings.start ?? conventionalStart, count: settings.dimension))
    }

    /// Each method's outcome: a JSON line each, or a table and the ratio of evaluations.
    func report(_ outcomes: [AdaptationRun.Outcome], job: Runtime) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = NonFiniteJSON.encoding
            for outcome in outcomes { job.report(String(decoding: try encoder.encode(outcome), as: UTF8.self)) }
            return
        }
        var rows = [["method", "iterations", "evaluations", "f(mean)", "best sample", "eigendecompositions", "seconds", "reached"]]
        for outcome in outcomes {
            rows.append([
                outcome.method, "\(outcome.iterations)", "\(outcome.evaluations)", String(format: "%.2e", outcome.finalValue),
                String(format: "%.2e", outcome.bestSampleValue), "\(outcome.eigendecompositions)",
                String(format: "%.3f", outcome.seconds), outcome.reachedTarget ? "yes" : "no",
            ])
        }
        for line in TextTable.render(rows) { job.report(line) }
        if outcomes.count == 2, outcomes.allSatisfy(\.reachedTarget) {
            job.report(String(format: "evaluations: %@ / %@ = %.2f", outcomes[0].method, outcomes[1].method,
                              Double(outcomes[0].evaluations) / Double(outcomes[1].evaluations)))
        }
    }
}
