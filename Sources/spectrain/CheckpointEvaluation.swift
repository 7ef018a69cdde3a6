import Checkpoint
import Cluster
import Foundation
import Support
import Train

/// Test loss and accuracy of a saved model (`spectrain eval`), on the test split of its
/// configuration or on any IDX dataset the overrides name (a language model: on its validation
/// text); on one rank or spread over many.
enum CheckpointEvaluation {
    /// What an evaluation measured.
    struct Result: Codable, Sendable, Equatable {
        /// The checkpoint folder evaluated.
        var checkpoint: String
        /// Training steps the checkpoint had completed.
        var step: Int
        /// Mean loss and accuracy per prediction (per character for a language model, in nats).
        var loss: Double
        var accuracy: Double
        /// Predictions evaluated (samples, or characters of a language model), and their data.
        var samples: Int
        var data: String
        /// "test" images, or "validation" text.
        var split: String
    }

    /// Evaluates the model in `checkpoint` (a checkpoint folder, or a run folder for its latest).
    /// The configuration is the checkpoint's own with `overrides` applied, e.g.
    /// `data.testImages=...` and `data.testLabels=...` for another dataset; an override the saved
    /// state cannot follow (another model, say) is a one-line error. Rank 0 reads and validates
    /// the checkpoint; all ranks take part.
    static func run(checkpoint: String, overrides: [String], communicator: any Communicator) throws(TrainError) -> Result {
        let isRoot = communicator.rank == 0
        var folder = ""
        var contents: CheckpointContents?
        var configBytes: [UInt8] = []
        var problem = ""
        if isRoot {
            do {
                folder = try CheckpointStore.resolve(checkpoint)
                contents = try CheckpointStore.read(folder)
                guard let config = contents?.manifest["config"] else {
                    throw FileError((folder as NSString).appendingPathComponent("manifest.json"), "missing config")
                }
                configBytes = [UInt8](config.encoded())
            } catch {
                problem = "\(error)"
            }
        }
        try TrainingRun.stopUnlessRootSucceeded(problem, communicator: communicator, otherRanks: "rank 0 could not read the checkpoint")
        do {
            configBytes = try communicator.broadcast(bytes: configBytes, root: 0)
        } catch {
            throw TrainError("\(error)")
        }
        let source = isRoot ? (folder as NSString).appendingPathComponent("manifest.json") + " (config)" : "the checkpoint's config"
        let config: TrainConfig
        do {
            config = try ConfigurationFile.decode(TrainConfig.self, from: Data(configBytes), path: source, overrides: overrides)
        } catch {
            throw TrainError("\(error)")
        }
        let trainer = try Trainer(config: config, communicator: communicator, report: { _ in })
        var step = [Int64(0)]
        if isRoot {
            do throws(TrainError) {
                step[0] = Int64(try trainer.validate(contents!, folder: folder).step)
            } catch {
                problem = error.message
            }
        }
        try TrainingRun.stopUnlessRootSucceeded(problem, communicator: communicator, otherRanks: "rank 0 could not read the checkpoint")
        do {
            try communicator.broadcast(&step, root: 0)
        } catch {
            throw TrainError("\(error)")
        }
        try trainer.restore(from: contents)
        let measured = try trainer.evaluate(step: Int(step[0]))
        let size = trainer.workload.evaluationSize
        let data = config.data.text.map { "\(size.source) of \($0)" } ?? "\(config.data.testImages) and \(config.data.testLabels)"
        return Result(
            checkpoint: folder, step: Int(step[0]), loss: measured.loss, accuracy: measured.accuracy,
            samples: size.predictions, data: data, split: trainer.workload.evaluationName)
    }
}
