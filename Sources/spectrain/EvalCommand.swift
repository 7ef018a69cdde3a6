import ArgumentParser
import Foundation
import Support
import Train

/// `spectrain eval CKPT`: test loss and accuracy of a saved model, on one process or under mpirun.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint's model on its test split, or on another IDX dataset.",
        discussion: """
            The configuration is the checkpoint's own; --set changes it, e.g. to evaluate on MNIST:
              spectrain eval runs/NAME --set data.testImages=PATH --set data.testLabels=PATH
            """)

    @Argument(help: "A checkpoint folder, or a run folder (its latest checkpoint).")
    var checkpoint: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field of the checkpoint's configuration.", valueName: "key=value"))
    var overrides: [String] = []

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        let job = try Runtime.start(runtime)
        let result = try CheckpointEvaluation.run(checkpoint: checkpoint, overrides: overrides, communicator: job.communicator)
        if json {
            let encoder = NonFiniteJSON.encoder([.sortedKeys, .withoutEscapingSlashes])
            job.report(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            let loss = result.split == "validation"
                ? String(format: "%.6f nats/char (%.4f bits/char)", result.loss, result.loss / M_LN2)
                : String(format: "%.6f", result.loss)
            job.report(String(
                format: "%@ (step %d): %@ loss %@, accuracy %.2f%% on %d %@ of %@",
                result.checkpoint, result.step, result.split, loss, 100 * result.accuracy, result.samples,
                result.split == "validation" ? "characters" : "samples", result.data))
        }
    }
}
