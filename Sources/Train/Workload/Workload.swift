import Cluster
import Linalg
import NN

/// What a run trains: the data, the model and its loss. The trainer turns each global step into
/// this rank's share of the loss and gradient through it, and measures the model with it.
///
/// A workload scales the loss gradient by 1 / (global batch x predictions per sample), so summing
/// the ranks' gradients gives the gradient of the mean loss per prediction.
package protocol Workload: AnyObject {
    /// The model, initialised from the run's seed.
    var model: Sequential<Float> { get }
    /// Steps in one pass over the training data.
    var stepsPerEpoch: Int { get }
    /// Predictions each sample's loss sums over: 1 for a classifier, the context for a language
    /// model (one next character per position). Losses and accuracies are per prediction.
    var predictionsPerSample: Int { get }
    /// What evaluation measures on ("test" split or "validation" text), for reports.
    var evaluationName: String { get }
    /// A short description of the data and model for the start of the log.
    var description: String { get }

    /// Fills the batch buffers with rank `rank`'s slice of global batch `step`.
    func loadBatch(step: Int, rank: Int, ranks: Int)
    /// Runs the model and the loss on the loaded batch: the loss summed over its predictions, how
    /// many were right, and how many there were.
    func forward(step: Int) -> (lossSum: Double, correct: Int, samples: Int)
    /// Back-propagates the loss of the last `forward` into the model's zeroed gradient buffer.
    func backward(step: Int)
    /// Mean loss and accuracy per prediction on the evaluation data, each rank evaluating its
    /// slice of every batch (all ranks take part). `afterBatch` runs after each batch.
    func evaluate(step: Int, communicator: any Communicator, afterBatch: () -> Void) throws(TrainError) -> (loss: Double, accuracy: Double)
    /// Predictions one evaluation measures (summed over ranks), and where they come from.
    var evaluationSize: (predictions: Int, source: String) { get }
}

/// The workload a configuration describes: a character language model when `data.text` is
/// set, image classification otherwise.
func makeWorkload(config: TrainConfig, ranks: Int) throws(TrainError) -> any Workload {
    config.data.text == nil
        ? try ImageClassification(config: config, ranks: ranks)
        : try LanguageModeling(config: config, ranks: ranks)
}

/// An evaluation's mean loss and accuracy per prediction: this rank's `lossSum` and `correct`
/// summed over ranks and divided by the `predictions` all ranks made together.
func meanOverRanks(
    lossSum: Double, correct: Int, predictions: Int, communicator: any Communicator
) throws(TrainError) -> (loss: Double, accuracy: Double) {
    var totals = [lossSum, Double(correct)]
    do {
        try communicator.allreduce(&totals, operation: .sum)
    } catch {
        throw TrainError("\(error)")
    }
    return (totals[0] / Double(predictions), totals[1] / Double(predictions))
}
