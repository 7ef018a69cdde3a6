import Checkpoint
import DistributedSearch
import GradientFree
import Support

/// A run of `spectrain es`: the objective, the methods to compare and their settings.
struct ESConfiguration: ConfigRecord {
    var objective: ObjectiveSettings
    var seed: UInt64 = 1
    var methods: [AdaptationMethod] = [.cma]
    var search = AdaptationOptions()
    var target = 1e-10
    var maxEvaluations = 1_000_000
    var logEvery = 0
    /// IPOP: restarts after a search stagnates, each with the population times `populationGrowth`.
    var restarts = 0
    var populationGrowth = 2.0
    /// Noise handling: evaluations of each candidate (their median counts) and of `f(mean)` below
    /// the target (all must be below it to stop).
    var evaluationsPerCandidate = 1
    var targetConfirmations = 1
    /// With --run: a checkpoint every this many iterations (and at the end of each method).
    var checkpointEvery = 100

    struct ObjectiveSettings: ConfigRecord {
        /// A built-in function (`Objective.Kind`), or `command`: the user's, computed by an
        /// external command.
        enum Kind: Equatable, NamedChoice {
            case builtIn(Objective.Kind)
            case command

            /// The built-ins, then `command`: what an unknown spelling's error lists.
            static var allCases: [Kind] { Objective.Kind.allCases.map(Kind.builtIn) + [.command] }

            init?(rawValue: String) {
                if rawValue == "command" {
                    self = .command
                } else if let kind = Objective.Kind(rawValue: rawValue) {
                    self = .builtIn(kind)
                } else {
                    return nil
                }
            }

            var rawValue: String { name }

            var name: String {
                switch self {
                case .builtIn(let kind): kind.rawValue
                case .command: "command"
                }
            }

            /// The built-in function, nil for `command`.
            var builtIn: Objective.Kind? {
                if case .builtIn(let kind) = self { kind } else { nil }
            }

            /// Where a run starts unless `start` says otherwise: the built-in's conventional
            /// start, 0 for a command.
            var conventionalStart: Double { builtIn?.conventionalStart ?? 0 }
        }

        var type: Kind
        var dimension: Int
        /// `condition`: `c` of ellipsoid, cigar and discus; nil when not given.
        var givenCondition: Double?
        /// `rotated`: whether a built-in is seen through a random rotation; nil when not given.
        var givenRotated: Bool?
        /// `rotationSeed`: which random rotation; nil when not given.
        var givenRotationSeed: UInt64?
        /// `shift`: where a built-in's optimum is, one number or one per coordinate; nil when
        /// not given.
        var givenShift: PerCoordinate?
        /// `start`: the point every method starts from, one number or one per coordinate; nil
        /// when not given.
        var givenStart: PerCoordinate?
        /// With `command`: the program and its arguments (see `CommandObjective`).
        var command: [String]?
        /// With `command`: how long one evaluation may take before the job ends with an error.
        var timeoutSeconds = 300.0
        /// `protocol`, with `command`: point by point or in batches; nil when not given.
        var givenProtocol: CommandObjective.WireProtocol?
        /// `bounds`: box bounds on the points the function sees (`BoxBounds`); nil: none.
        var bounds: BoundsSettings?
        /// `noise`: a built-in seen through Gaussian noise of this level (`NoisyObjective`); nil: none.
        var noise: Double?
        /// `noiseType`, with `noise`: multiplicative (default) or additive.
        var givenNoiseType: NoisyObjective.Kind?

        /// `c`, default `Objective.defaultCondition` (1e6).
        var condition: Double { givenCondition ?? Objective.defaultCondition }
        /// Whether the built-in is rotated, default `Objective.Kind.isRotatedByDefault` (all but
        /// rosenbrock).
        var rotated: Bool { givenRotated ?? type.builtIn?.isRotatedByDefault ?? false }
        /// The seed of the rotation, default 0.
        var rotationSeed: UInt64 { givenRotationSeed ?? 0 }
        /// `o` in every coordinate, default 0.
        var shift: [Double] { (givenShift ?? .uniform(0)).values(dimension: dimension) }
        /// The start in every coordinate, default `Kind.conventionalStart`.
        var start: [Double] { (givenStart ?? .uniform(type.conventionalStart)).values(dimension: dimension) }
        /// How a command exchanges points and values, default `point` (one round trip per point).
        var wireProtocol: CommandObjective.WireProtocol { givenProtocol ?? .point }

        /// "does not apply to type command" when a setting of the built-ins is given for a command.
        private static func builtInOnly(_ settings: ObjectiveSettings, given: Bool) -> String? {
            given && settings.type == .command ? "does not apply to type command" : nil
        }

        static let fields: [ConfigField<ObjectiveSettings>] = [
            .required("type", \.type),
            .check(at: \.command, summary: "with type command, required and not empty; with another type, not given") { settings in
                if settings.type == .command {
                    (settings.command ?? []).isEmpty ? "must name the program to run, e.g. [\"python3\", \"f.py\"]" : nil
                } else {
                    settings.command == nil ? nil : "applies to type command only"
                }
            },
            .required("dimension", \.dimension, .in(searchDimensions)),
            .init("condition", \.givenCondition, .atLeast(1)),
            .check(at: \.givenCondition, summary: "types ellipsoid, cigar and discus only") { settings in
                settings.givenCondition == nil || settings.type.builtIn?.hasCondition == true
                    ? nil : "applies to types ellipsoid, cigar and discus only, not \(settings.type.name)"
            },
            .init("rotated", \.givenRotated),
            .check(at: \.givenRotated, summary: "built-in types only") { builtInOnly($0, given: $0.givenRotated != nil) },
            .init("rotationSeed", \.givenRotationSeed),
            .check(at: \.givenRotationSeed, summary: "rotated built-in types only") { settings in
                guard settings.givenRotationSeed != nil else { return nil }
                return builtInOnly(settings, given: true)
                    ?? (settings.rotated ? nil : "applies to a rotated function only (rotated is false for \(settings.type.name))")
            },
            .init("shift", \.givenShift, .finite),
            .check(at: \.givenShift, summary: "built-in types only; one number or one per coordinate") { settings in
                builtInOnly(settings, given: settings.givenShift != nil) ?? settings.givenShift?.countProblem(dimension: settings.dimension)
            },
            .init("start", \.givenStart, .finite),
            .check(at: \.givenStart, summary: "one number or one per coordinate") { $0.givenStart?.countProblem(dimension: $0.dimension) },
            .init("command", \.command),
            .init("timeoutSeconds", \.timeoutSeconds, .in(0...86400, excludingLower: true)),
            .init("bounds", \.bounds),
            .check(at: \.bounds, summary: "lower, upper or both; each one number or one per coordinate, every lower below its upper") { settings in settings.bounds?.problem(dimension: settings.dimension) },
            .init("noise", \.noise, .in(0...1e6)),
            .check(at: \.noise, summary: "built-in types only") { builtInOnly($0, given: $0.noise != nil) },
            .init("noiseType", \.givenNoiseType),
            .check(at: \.givenNoiseType, summary: "only with noise") { $0.givenNoiseType != nil && $0.noise == nil ? "applies only with noise" : nil },
            .init("protocol", \.givenProtocol),
            .check(at: \.givenProtocol, summary: "type command only") { settings in
                settings.givenProtocol != nil && settings.type != .command ? "does not apply to type \(settings.type.name)" : nil
            },
        ]

        /// `bounds`: each side one number or one per coordinate; a side left out is unbounded.
        struct BoundsSettings: ConfigRecord {
            var lower: PerCoordinate?
            var upper: PerCoordinate?

            static let fields: [ConfigField<BoundsSettings>] = [
                .init("lower", \.lower, .finite),
                .init("upper", \.upper, .finite),
            ]

            static func defaults(given _: GivenFields<BoundsSettings>) -> BoundsSettings { BoundsSettings() }

            /// The bounds for `dimension` coordinates, or why there are none.
            func box(dimension: Int) -> Result<BoxBounds, BoxBounds.Invalid> {
                let lowerValues = lower?.values(dimension: dimension) ?? [Double](repeating: -.infinity, count: dimension)
                let upperValues = upper?.values(dimension: dimension) ?? [Double](repeating: .infinity, count: dimension)
                return Result { () throws(BoxBounds.Invalid) in try BoxBounds(lower: lowerValues, upper: upperValues, dimension: dimension) }
            }

            /// Why these cannot bound `dimension` coordinates, naming the side and coordinate.
            func problem(dimension: Int) -> String? {
                if lower == nil && upper == nil { return "give lower, upper or both" }
                if let problem = lower?.countProblem(dimension: dimension) { return "lower \(problem)" }
                if let problem = upper?.countProblem(dimension: dimension) { return "upper \(problem)" }
                if case .failure(let invalid) = box(dimension: dimension) { return invalid.description }
                return nil
            }
        }

        static func defaults(given: GivenFields<ObjectiveSettings>) throws -> ObjectiveSettings {
            ObjectiveSettings(type: try given.required(\.type), dimension: try given.required(\.dimension))
        }
    }

    static let fields: [ConfigField<ESConfiguration>] = [
        .required("objective", \.objective),
        .init("seed", \.seed),
        .init("methods", \.methods, FieldRule({ !$0.isEmpty && Set($0).count == $0.count }, summary: "at least one, each once", otherwise: {
            "must list cma, cmaExact, spectral and/or xnes, each once, got \($0.map(\.rawValue))"
        })),
        .init("search", \.search),
        .check(at: \.search, summary: "initialStepSize: one number or one per coordinate, largest / smallest <= 1e100") { $0.search.initialStepSizeProblem(dimension: $0.objective.dimension) },
        .init("target", \.target, .finite),
        .init("maxEvaluations", \.maxEvaluations, .atLeast(1)),
        .init("logEvery", \.logEvery, .atLeast(0)),
        .init("restarts", \.restarts, .in(0...100)),
        .init("populationGrowth", \.populationGrowth, .in(1...10, excludingLower: true)),
        .init("evaluationsPerCandidate", \.evaluationsPerCandidate, .in(1...1000)),
        .init("targetConfirmations", \.targetConfirmations, .in(1...1000)),
        .init("checkpointEvery", \.checkpointEvery, .in(1...1_000_000_000)),
    ]

    /// The fields a resumed job may change: the budget and how often it logs and saves.
    static let changeableOnResume = ["maxEvaluations", "logEvery", "checkpointEvery"]

    /// The configuration as JSON without `changeableOnResume`: what a resumed job must match.
    func compatibility() throws -> JSONValue {
        guard case .object(var fields) = try JSONValue(encoding: self) else { return .null }
        for name in Self.changeableOnResume { fields[name] = nil }
        return .object(fields)
    }

    /// How a method's run goes: its options, start, seed, restarts, stop and noise handling.
    func runSettings(method: AdaptationMethod, start: [Double]) -> SearchRun.Settings {
        var options = search
        options.method = method
        return SearchRun.Settings(
            options: options, dimension: objective.dimension, start: start, seed: seed, restarts: restarts,
            populationGrowth: populationGrowth, stop: .init(target: target, maxEvaluations: maxEvaluations),
            noise: .init(evaluationsPerCandidate: evaluationsPerCandidate, targetConfirmations: targetConfirmations))
    }

    static func defaults(given: GivenFields<ESConfiguration>) throws -> ESConfiguration {
        ESConfiguration(objective: try given.required(\.objective))
    }
}
