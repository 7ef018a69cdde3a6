import Cluster
import Datasets
import Linalg
import NN

/// The image-classification workload: the training and test splits, the model with its softmax
/// cross-entropy loss, and the batch buffers. It turns a global step into this rank's share of
/// the loss and of the gradient, and measures the model on the test split.
///
/// The loss gradient is scaled by 1 / global batch, so summing the ranks' gradients gives the
/// gradient of the global batch mean. Buffers are sized once for the largest local batch.
package final class ImageClassification: Workload {
    package let model: Sequential<Float>
    package let trainingSet: ImageDataset
    package let testSet: ImageDataset
    /// Classes the model tells apart (the larger of the two splits' label ranges).
    package let classes: Int
    package let globalBatch: Int
    private let seed: UInt64
    private let evaluationBatchSize: Int
    private let mean: Float
    private let std: Float
    private let loss = SoftmaxCrossEntropy<Float>()
    private var sampler: GlobalSampler
    private var features: [Float]
    private var labels: [Int32]
    private var indices: [Int] = []
    private var logitGradient: [Float]
    /// The model's output for the batch in the buffers, between `forward` and `backward`.
    private var logits: UnsafeBufferPointer<Float>?

    /// Loads the data and builds the model, initialised from `config.seed`, for batches split
    /// over `ranks` ranks.
    package init(config: TrainConfig, ranks: Int) throws(TrainError) {
        let loaded: (training: ImageDataset, test: ImageDataset)
        do {
            loaded = try config.data.load()
        } catch {
            throw TrainError("\(error)")
        }
        (trainingSet, testSet) = loaded
        let statistics = config.data.normalization(training: trainingSet)
        (mean, std) = (Float(statistics.mean), Float(statistics.std))
        classes = max(trainingSet.classes, testSet.classes)
        guard testSet.sampleShape == trainingSet.sampleShape else {
            throw TrainError("data: test images are \(testSet.sampleShape), training images \(trainingSet.sampleShape)")
        }
        let loop = config.training
        guard loop.batchSize >= ranks else {
            throw TrainError("training.batchSize \(loop.batchSize) is smaller than the \(ranks) ranks: every rank needs a sample")
        }
        guard trainingSet.count / loop.batchSize >= 1 else {
            throw TrainError("training.batchSize \(loop.batchSize) exceeds the \(trainingSet.count) training samples")
        }
        (globalBatch, evaluationBatchSize, seed) = (loop.batchSize, loop.evalBatchSize, config.seed)
        let localTraining = GlobalSampler.localSlice(globalBatch: loop.batchSize, rank: 0, ranks: ranks).count
        let localEvaluation = GlobalSampler.localSlice(globalBatch: loop.evalBatchSize, rank: 0, ranks: ranks).count
        let maxBatch = max(localTraining, localEvaluation)
        do {
            model = try Sequential<Float>.build(inputShape: trainingSet.sampleShape, specs: config.model.layers, maxBatch: maxBatch)
        } catch {
            throw TrainError("model: \(error)")
        }
        guard model.outputCount == classes, model.outputShape.count == 1 else {
            throw TrainError("model: the last layer gives \(model.outputShape) per sample, the data has \(classes) classes")
        }
        model.initialize(seed: config.seed)
        sampler = GlobalSampler(datasetCount: trainingSet.count, seed: config.seed &+ 0x5A4D_504C_4552)
        features = [Float](repeating: 0, count: maxBatch * model.inputCount)
        labels = [Int32](repeating: 0, count: maxBatch)
        logitGradient = [Float](repeating: 0, count: maxBatch * classes)
        indices.reserveCapacity(maxBatch)
    }

    package var stepsPerEpoch: Int { trainingSet.count / globalBatch }
    package var predictionsPerSample: Int { 1 }
    package var evaluationName: String { "test" }
    package var evaluationSize: (predictions: Int, source: String) { (testSet.count, "the test images") }

    /// Fills the batch buffers with rank `rank`'s slice of global batch `step`.
    package func loadBatch(step: Int, rank: Int, ranks: Int) {
        sampler.fillIndices(step: step, globalBatch: globalBatch, rank: rank, ranks: ranks, into: &indices)
        trainingSet.fill(indices: indices, features: &features, labels: &labels, mean: mean, std: std)
    }

    /// Runs the model and the loss on the loaded batch: the loss summed over its samples and how
    /// many it classified correctly.
    package func forward(step: Int) -> (lossSum: Double, correct: Int, samples: Int) {
        let batch = indices.count
        let context = ForwardContext(training: true, seed: seed, step: step, sampleIndices: indices)
        return features.withUnsafeBufferPointer { input in
            labels.withUnsafeBufferPointer { labels in
                let output = model.forward(input: UnsafeBufferPointer(rebasing: input[..<(batch * model.inputCount)]), batch: batch, context: context)
                logits = output
                let result = loss.forward(logits: output, labels: UnsafeBufferPointer(rebasing: labels[..<batch]), batch: batch, classes: classes)
                return (result.lossSum, result.correct, batch)
            }
        }
    }

    /// Back-propagates the loss of the last `forward` into the model's zeroed gradient buffer.
    package func backward(step: Int) {
        guard let logits else { preconditionFailure("ImageClassification.backward without forward") }
        let batch = indices.count
        let context = ForwardContext(training: true, seed: seed, step: step, sampleIndices: indices)
        model.parameters.zeroGradients()
        features.withUnsafeBufferPointer { input in
            labels.withUnsafeBufferPointer { labels in
                logitGradient.withUnsafeMutableBufferPointer { gradient in
                    loss.backward(
                        logits: logits, labels: UnsafeBufferPointer(rebasing: labels[..<batch]), batch: batch, classes: classes,
                        scale: 1 / Float(globalBatch), into: gradient)
                    model.backward(
                        input: UnsafeBufferPointer(rebasing: input[..<(batch * model.inputCount)]),
                        outputGradient: UnsafeBufferPointer(rebasing: gradient[..<(batch * classes)]), batch: batch, context: context)
                }
            }
        }
        self.logits = nil
    }

    /// Mean loss and accuracy on the whole test split, each rank evaluating its slice of every
    /// batch (all ranks take part). `afterBatch` runs after each batch (the watchdog's beat).
    package func evaluate(step: Int, communicator: any Communicator, afterBatch: () -> Void) throws(TrainError) -> (loss: Double, accuracy: Double) {
        let batches = EvaluationBatches(sampleCount: testSet.count, batchSize: evaluationBatchSize)
        var lossSum = 0.0
        var correct = 0
        for batchIndex in 0..<batches.count {
            afterBatch()
            batches.fillIndices(batch: batchIndex, rank: communicator.rank, ranks: communicator.size, into: &indices)
            let batch = indices.count
            if batch == 0 { continue }
            testSet.fill(indices: indices, features: &features, labels: &labels, mean: mean, std: std)
            features.withUnsafeBufferPointer { input in
                labels.withUnsafeBufferPointer { labels in
                    let output = model.forward(
                        input: UnsafeBufferPointer(rebasing: input[..<(batch * model.inputCount)]), batch: batch,
                        context: ForwardContext(training: false, seed: seed, step: step, sampleIndices: indices))
                    let result = loss.forward(logits: output, labels: UnsafeBufferPointer(rebasing: labels[..<batch]), batch: batch, classes: classes)
                    lossSum += result.lossSum
                    correct += result.correct
                }
            }
        }
        return try meanOverRanks(lossSum: lossSum, correct: correct, predictions: testSet.count, communicator: communicator)
    }

    /// A short description of the data and model for the start of the log.
    package var description: String {
        "\(trainingSet.count) training / \(testSet.count) test samples \(trainingSet.sampleShape), \(classes) classes; \(model.parameters.count) parameters"
    }
}
