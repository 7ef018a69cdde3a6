import Foundation

/// Faults a test injects into a run to prove that a safeguard fires: one value, built by the
/// command line from the `SPECTRAIN_*` test variables and passed in; the library never reads
/// the environment itself.
package struct FaultInjection: Sendable, Equatable {
    /// A parameter changed on one rank after a step (the replica check must catch it).
    package struct ReplicaPerturbation: Sendable, Equatable {
        package var rank: Int
        package var step: Int
        /// The index of the parameter tensor whose first value changes.
        package var tensor: Int
    }

    /// One rank that hangs, alive and outside MPI, in one step (the stall watchdog must end the job).
    package struct Stall: Sendable, Equatable {
        package var rank: Int
        package var step: Int
    }

    /// The checkpoint writer pausing with a checkpoint's files written but not yet renamed into
    /// place, so that a test can kill the process in the middle of a save.
    package struct CheckpointPause: Sendable, Equatable {
        package var step: Int
        package var seconds: Double
    }

    /// The environment variable of each fault and the fields of its value.
    static let replicaVariable = (name: "SPECTRAIN_PERTURB_REPLICA", fields: "rank:step:tensor")
    static let stallVariable = (name: "SPECTRAIN_STALL", fields: "rank:step")
    static let pauseVariable = (name: "SPECTRAIN_CHECKPOINT_PAUSE", fields: "step:seconds")

    package var perturbReplica: ReplicaPerturbation?
    package var stall: Stall?
    package var checkpointPause: CheckpointPause?

    /// No faults.
    package init() {}

    /// The faults the `SPECTRAIN_*` variables of `environment` ask for: `SPECTRAIN_PERTURB_REPLICA=rank:step:tensor`,
    /// `SPECTRAIN_STALL=rank:step` and `SPECTRAIN_CHECKPOINT_PAUSE=step:seconds`. A value that
    /// does not parse is an error naming the variable and the expected fields.
    package init(environment: [String: String]) throws(TrainError) {
        if let values = try Self.fields(of: Self.replicaVariable, in: environment, integers: 3) {
            perturbReplica = ReplicaPerturbation(rank: Int(values[0]), step: Int(values[1]), tensor: Int(values[2]))
        }
        if let values = try Self.fields(of: Self.stallVariable, in: environment, integers: 2) {
            stall = Stall(rank: Int(values[0]), step: Int(values[1]))
        }
        if let values = try Self.fields(of: Self.pauseVariable, in: environment, integers: 1) {
            guard values[1] >= 0, values[1].isFinite else { throw Self.malformed(Self.pauseVariable, environment) }
            checkpointPause = CheckpointPause(step: Int(values[0]), seconds: values[1])
        }
    }

    /// Rejects a perturbation of a tensor the model does not have (`tensors` parameter tensors).
    func check(tensors: Int) throws(TrainError) {
        if let tensor = perturbReplica?.tensor, !(0..<tensors).contains(tensor) {
            throw TrainError("\(Self.replicaVariable.name): tensor \(tensor) is not one of the model's \(tensors) parameter tensors")
        }
    }

    /// The colon-separated numbers of a variable's value (nil when it is not set): as many as
    /// its field names, the first `integers` of them whole numbers.
    private static func fields(
        of variable: (name: String, fields: String), in environment: [String: String], integers: Int
    ) throws(TrainError) -> [Double]? {
        guard let text = environment[variable.name] else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let count = variable.fields.split(separator: ":").count
        let values = parts.enumerated().map { index, part in index < integers ? Int(part).map(Double.init) : Double(part) }
        guard parts.count == count, values.allSatisfy({ $0 != nil }) else { throw malformed(variable, environment) }
        return values.map { $0! }
    }

    private static func malformed(_ variable: (name: String, fields: String), _ environment: [String: String]) -> TrainError {
        TrainError("\(variable.name): '\(environment[variable.name] ?? "")' is not \(variable.fields)")
    }
}
