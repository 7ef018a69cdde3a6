import Cluster
import Testing
@testable import Train

@Suite("Fault injection")
struct FaultInjectionTests {
    @Test("the three SPECTRAIN_* test variables are read into one value; unset means no fault")
    func parses() throws {
        #expect(try FaultInjection(environment: [:]) == FaultInjection())
        let faults = try FaultInjection(environment: [
            "SPECTRAIN_PERTURB_REPLICA": "1:5:2", "SPECTRAIN_STALL": "0:6", "SPECTRAIN_CHECKPOINT_PAUSE": "40:2.5", "PATH": "/bin",
        ])
        #expect(faults.perturbReplica == .init(rank: 1, step: 5, tensor: 2))
        #expect(faults.stall == .init(rank: 0, step: 6))
        #expect(faults.checkpointPause == .init(step: 40, seconds: 2.5))
    }

    @Test("a value that does not parse is an error naming the variable and its fields, not a fault silently dropped",
          arguments: [
              ("SPECTRAIN_PERTURB_REPLICA", "1:a:2", "rank:step:tensor"),
              ("SPECTRAIN_PERTURB_REPLICA", "1:5", "rank:step:tensor"),
              ("SPECTRAIN_STALL", "1:6:", "rank:step"),
              ("SPECTRAIN_STALL", "1.5:6", "rank:step"),
              ("SPECTRAIN_CHECKPOINT_PAUSE", "40", "step:seconds"),
              ("SPECTRAIN_CHECKPOINT_PAUSE", "40:soon", "step:seconds"),
              ("SPECTRAIN_CHECKPOINT_PAUSE", "40:-1", "step:seconds"),
          ])
    func rejectsMalformed(variable: String, value: String, fields: String) {
        #expect(throws: TrainError("\(variable): '\(value)' is not \(fields)")) {
            try FaultInjection(environment: [variable: value])
        }
    }

    @Test("perturbing a tensor the model does not have is an error before training starts")
    func rejectsUnknownTensor() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var faults = FaultInjection()
        faults.perturbReplica = .init(rank: 0, step: 1, tensor: 99)
        #expect(throws: TrainError.self) {
            _ = try Trainer(config: data.config(optimizer: TrainerTests.optimizer(.sgd)), communicator: SingleProcessCommunicator(), faults: faults) { _ in }
        }
    }
}
