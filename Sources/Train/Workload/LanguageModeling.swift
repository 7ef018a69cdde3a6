import Cluster
import Datasets
import Linalg
import NN

/// The character language-model workload: a UTF-8 text (`TextCorpus`), a model that reads a
/// window of `context` characters and scores every character of the vocabulary at each
/// position, and the softmax cross-entropy of the next character summed over all positions.
///
/// A training sample is a window of the training part starting anywhere (`GlobalSampler` over
/// every start, so N ranks see one rank's global batch); its `context` predictions count as
/// the samples of the metrics, so losses are nats per character. Evaluation reads
/// `data.validationWindows` fixed, non-overlapping windows of the validation part.
package final class LanguageModeling: Workload {
    package let model: Sequential<Float>
    package let corpus: TextCorpus
    package let context: Int
    package let globalBatch: Int
    private let seed: UInt64
    private let evaluationBatchSize: Int
    /// Where each validation window starts in the validation part.
    private let validationStarts: [Int]
    private let loss = SoftmaxCrossEntropy<Float>()
    private var sampler: GlobalSampler
    private var inputs: [Float]
    private var targets: [Int32]
    /// The window starts of the batch in the buffers (the training sampler's indices are starts).
    private var indices: [Int] = []
    private var evaluationStarts: [Int] = []
    private var logitGradient: [Float]
    /// The model's output for the batch in the buffers, between `forward` and `backward`.
    private var logits: UnsafeBufferPointer<Float>?

    /// Loads the text and builds the model, initialised from `config.seed`, for batches split
    /// over `ranks` ranks.
    package init(config: TrainConfig, ranks: Int) throws(TrainError) {
        do {
            corpus = try config.data.loadText()
        } catch {
            throw TrainError("\(error)")
        }
        context = config.data.context
        let loop = config.training
        let windows = TextCorpus.windowCount(tokens: corpus.training.count, context: context)
        guard loop.batchSize >= ranks else {
            throw TrainError("training.batchSize \(loop.batchSize) is smaller than the \(ranks) ranks: every rank needs a sample")
        }
        guard windows / loop.batchSize >= 1 else {
            throw TrainError("training.batchSize \(loop.batchSize) exceeds the \(windows) training windows of \(config.data.text ?? "the text")")
        }
        (globalBatch, evaluationBatchSize, seed) = (loop.batchSize, loop.evalBatchSize, config.seed)
        let localTraining = GlobalSampler.localSlice(globalBatch: loop.batchSize, rank: 0, ranks: ranks).count
        let localEvaluation = GlobalSampler.localSlice(globalBatch: loop.evalBatchSize, rank: 0, ranks: ranks).count
        let maxBatch = max(localTraining, localEvaluation)
        model = try Self.buildModel(config: config, vocabulary: corpus.vocabulary.count, maxBatch: maxBatch)
        model.initialize(seed: config.seed)
        sampler = GlobalSampler(datasetCount: windows, seed: config.seed &+ 0x5445_5854)
        validationStarts = corpus.validationStarts(count: config.data.validationWindows, context: context)
        inputs = [Float](repeating: 0, count: maxBatch * context)
        targets = [Int32](repeating: 0, count: maxBatch * context)
        logitGradient = [Float](repeating: 0, count: maxBatch * context * corpus.vocabulary.count)
        indices.reserveCapacity(maxBatch)
        evaluationStarts.reserveCapacity(maxBatch)
    }

    /// The model `config` describes for a text of `vocabulary` characters, for batches of up to
    /// `maxBatch` windows; uninitialised.
    package static func buildModel(config: TrainConfig, vocabulary: Int, maxBatch: Int) throws(TrainError) -> Sequential<Float> {
        let model: Sequential<Float>
        do {
            model = try Sequential<Float>.build(
                inputShape: [config.data.context], specs: config.model.layerSpecs(vocabulary: vocabulary), maxBatch: maxBatch)
        } catch {
            throw TrainError("model: \(error)")
        }
        if let problem = outputProblem(model.outputShape, context: config.data.context, vocabulary: vocabulary) { throw TrainError(problem) }
        return model
    }

    /// Why a model whose per-sample output is `shape` cannot be a character model for windows
    /// of `context` over `vocabulary` characters; nil when it can.
    static func outputProblem(_ shape: [Int], context: Int, vocabulary: Int) -> String? {
        shape == [context, vocabulary] ? nil
            : "model: the last layer gives \(shape) per sample; a character model must give [\(context), \(vocabulary)], a score for each of the text's \(vocabulary) characters at each of the \(context) positions"
    }

    package var vocabulary: CharacterVocabulary { corpus.vocabulary }
    package var stepsPerEpoch: Int { sampler.stepsPerEpoch(globalBatch: globalBatch) }
    package var predictionsPerSample: Int { context }
    package var evaluationName: String { "validation" }
    package var evaluationSize: (predictions: Int, source: String) {
        (validationStarts.count * context, "\(validationStarts.count) validation windows of \(context) characters")
    }

    package func loadBatch(step: Int, rank: Int, ranks: Int) {
        sampler.fillIndices(step: step, globalBatch: globalBatch, rank: rank, ranks: ranks, into: &indices)
        TextCorpus.fillWindows(of: corpus.training, starts: indices, context: context, inputs: &inputs, targets: &targets)
    }

    package func forward(step: Int) -> (lossSum: Double, correct: Int, samples: Int) {
        let result = run(batch: indices.count, context: ForwardContext(training: true, seed: seed, step: step, sampleIndices: indices))
        logits = result.logits
        return (result.lossSum, result.correct, indices.count * context)
    }

    package func backward(step: Int) {
        guard let logits else { preconditionFailure("LanguageModeling.backward without forward") }
        let (batch, positions, classes) = (indices.count, indices.count * context, corpus.vocabulary.count)
        let forwardContext = ForwardContext(training: true, seed: seed, step: step, sampleIndices: indices)
        model.parameters.zeroGradients()
        inputs.withUnsafeBufferPointer { input in
            targets.withUnsafeBufferPointer { targets in
                logitGradient.withUnsafeMutableBufferPointer { gradient in
                    loss.backward(
                        logits: logits, labels: UnsafeBufferPointer(rebasing: targets[..<positions]), batch: positions, classes: classes,
                        scale: 1 / Float(globalBatch * context), into: gradient)
                    model.backward(
                        input: UnsafeBufferPointer(rebasing: input[..<(batch * context)]),
                        outputGradient: UnsafeBufferPointer(rebasing: gradient[..<(positions * classes)]), batch: batch, context: forwardContext)
                }
            }
        }
        self.logits = nil
    }

    /// The model and the loss on the `batch` windows in the buffers.
    private func run(batch: Int, context forwardContext: ForwardContext) -> (lossSum: Double, correct: Int, logits: UnsafeBufferPointer<Float>) {
        let positions = batch * context
        return inputs.withUnsafeBufferPointer { input in
            targets.withUnsafeBufferPointer { targets in
                let output = model.forward(input: UnsafeBufferPointer(rebasing: input[..<(batch * context)]), batch: batch, context: forwardContext)
                let result = loss.forward(
                    logits: output, labels: UnsafeBufferPointer(rebasing: targets[..<positions]), batch: positions, classes: corpus.vocabulary.count)
                return (result.lossSum, result.correct, output)
            }
        }
    }

    package func evaluate(step: Int, communicator: any Communicator, afterBatch: () -> Void) throws(TrainError) -> (loss: Double, accuracy: Double) {
        let batches = EvaluationBatches(sampleCount: validationStarts.count, batchSize: evaluationBatchSize)
        var lossSum = 0.0
        var correct = 0
        for batchIndex in 0..<batches.count {
            afterBatch()
            batches.fillIndices(batch: batchIndex, rank: communicator.rank, ranks: communicator.size, into: &indices)
            if indices.isEmpty { continue }
            evaluationStarts.removeAll(keepingCapacity: true)
            for index in indices { evaluationStarts.append(validationStarts[index]) }
            TextCorpus.fillWindows(of: corpus.validation, starts: evaluationStarts, context: context, inputs: &inputs, targets: &targets)
            let result = run(batch: indices.count, context: ForwardContext(training: false, seed: seed, step: step, sampleIndices: evaluationStarts))
            lossSum += result.lossSum
            correct += result.correct
        }
        return try meanOverRanks(lossSum: lossSum, correct: correct, predictions: validationStarts.count * context, communicator: communicator)
    }

    package var description: String {
        """
        \(corpus.training.count) training / \(corpus.validation.count) validation characters, \(corpus.vocabulary.count) distinct; \
        windows of \(context); \(model.parameters.count) parameters
        """
    }
}
