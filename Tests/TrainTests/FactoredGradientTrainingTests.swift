import Cluster
import Foundation
import Optim
import Synchronization
import Testing
@testable import Train

@Suite("Factored gradients in training", .serialized)
struct FactoredGradientTrainingTests {
    /// A spectral run whose 64 x 64 first layer at batch 12 is preconditioned through its factors
    /// (12 rows, below the break-even of 42): with `factoredGradients` on and off.
    static func run(_ data: SyntheticData, factored: Bool, name: String) throws -> (losses: [Double], lines: [String]) {
        var optimizer = TrainerTests.optimizer(.spectral)
        optimizer.preconditioner.mode = .kl
        optimizer.preconditioner.power = 2
        optimizer.factoredGradients = factored
        var config = data.config(optimizer: optimizer, name: name, epochs: 2)
        config.model.layers = [.flatten, .linear(outputs: 64), .relu, .linear(outputs: 3)]
        config.training.batchSize = 12
        let output = Mutex<[String]>([])
        _ = try TrainingRun.execute(config: config, communicator: SingleProcessCommunicator()) { line in output.withLock { $0.append(line) } }
        return (try readMetrics(config.runPath).flatMap { [$0.loss, $0.testLoss ?? -1] }, output.withLock { $0 })
    }

    /// The factored path is the same arithmetic associated differently: losses agree with the
    /// unfactored run to Float32 rounding grown over 40 steps (1e-3 relative; a wrong product,
    /// scale or stale factor moves them by far more), it names the layer it factors, and it is
    /// deterministic.
    @Test("preconditioning through dY^T X trains like preconditioning G, and repeats bit for bit")
    func matchesUnfactored() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let factored = try Self.run(data, factored: true, name: "factored")
        let again = try Self.run(data, factored: true, name: "again")
        let plain = try Self.run(data, factored: false, name: "plain")
        #expect(factored.lines.contains { $0.contains("dY^T X: 1_linear.weight") })
        #expect(!plain.lines.contains { $0.contains("dY^T X") })
        #expect(factored.losses == again.losses)
        #expect(factored.losses.count == plain.losses.count && factored.losses.count > 8)
        for (with, without) in zip(factored.losses, plain.losses) {
            #expect(abs(with - without) <= 1e-3 * abs(without), "\(with) against \(without)")
        }
    }
}
