import Datasets
import Foundation
import NN
import Optim
import Spectral

/// An upper estimate of the memory one training process needs (data, parameters, gradients,
/// optimizer state, activations for the largest batch), worked out from the configuration and
/// the data files' headers with saturating arithmetic, so a run too large for the machine is a
/// configuration error before anything is allocated rather than an allocator abort.
package struct MemoryBudget: Sendable {
    /// One part of the estimate: where it comes from (a config field, "model.layers[1]"), what
    /// it is ("1000000000 outputs x 784 inputs = 2.9 TiB of parameters") and its bytes.
    package struct Part: Sendable, Equatable {
        package var source: String
        package var description: String
        package var bytes: Int
    }

    package let parts: [Part]
    /// The sum of the parts, `Int.max` when it overflows.
    package let totalBytes: Int

    /// The estimate for `config` on image data of `data`'s sizes with the model's layers
    /// `layers` (`LayerFootprint.of` of `specs`), for one process holding the whole model and both batch sizes.
    package init(config: TrainConfig, data: DataShape, specs: [LayerSpec], layers: [LayerFootprint]) {
        let parts = [("data.trainImages", data.trainingCount), ("data.testImages", data.testCount)].map { field, count in
            // Pixels as bytes, and each label as a byte read and an Int32 kept.
            let bytes = Self.sum([Self.product([count, data.rows, data.columns]), Self.product([count, 5])])
            return Part(source: field, description: "\(count) images of \(data.rows) x \(data.columns) = \(Self.format(bytes))", bytes: bytes)
        }
        self.init(config: config, dataParts: parts, sampleShape: data.sampleShape, specs: specs, layers: layers)
    }

    /// The estimate for `config` on a text file of `textBytes` bytes, for a model whose per-sample
    /// input is `sampleShape` (the context window).
    package init(config: TrainConfig, textBytes: Int, sampleShape: [Int], specs: [LayerSpec], layers: [LayerFootprint]) {
        // The bytes read, one Unicode scalar (4 bytes) per byte at most while decoding, and the
        // tokens (2 bytes each) kept.
        let bytes = Self.product([textBytes, 7])
        let part = Part(source: "data.text", description: "\(textBytes) bytes of text read and tokenised = \(Self.format(bytes))", bytes: bytes)
        self.init(config: config, dataParts: [part], sampleShape: sampleShape, specs: specs, layers: layers)
    }

    private init(config: TrainConfig, dataParts: [Part], sampleShape: [Int], specs: [LayerSpec], layers: [LayerFootprint]) {
        var parts = dataParts
        func add(_ source: String, _ description: String, _ bytes: Int, total: Bool = true) {
            parts.append(Part(source: source, description: total ? "\(description) = \(Self.format(bytes))" : description, bytes: bytes))
        }
        let loop = config.training
        let maxBatch = max(loop.batchSize, loop.evalBatchSize)
        let batchField = loop.batchSize >= loop.evalBatchSize ? "training.batchSize" : "training.evalBatchSize"
        let scalar = MemoryLayout<Float>.size
        let inputCount = Self.product(sampleShape)
        let largestActivation = ([inputCount] + layers.dropLast().map(\.outputCount)).max() ?? 0
        // The batch's features and the two ping-pong buffers of activation gradients.
        add(batchField, "batch of \(maxBatch) x \(largestActivation) features, with gradients",
            Self.product([3, maxBatch, largestActivation, scalar]))
        let stateBytesPerParameter = Self.optimizerBytesPerParameter(config.optimizer)
        let limits = Self.factorLimits(config.optimizer.preconditioner, shapes: layers.flatMap(\.parameterShapes))
        for (index, layer) in layers.enumerated() {
            let source = "model.layers[\(index)]"
            if layer.parameterCount > 0 {
                let values = Self.product([layer.parameterCount, scalar])
                let factors = layer.parameterShapes.map { shape in limits.map { Self.factorBytes(shape: shape, config: config.optimizer, limit: $0) }.max() ?? 0 }
                let total = Self.sum([Self.product([layer.parameterCount, 2 * scalar + stateBytesPerParameter])] + factors)
                let parameters = Self.describeParameters(of: specs[index], layer)
                add(source, "\(parameters) = \(Self.format(values)) of parameters, \(Self.format(total)) with gradients and optimizer state", total, total: false)
            }
            let perSample = Self.sum([Self.product([layer.outputCount, scalar]), Self.product([layer.scratchPerSample, 8])])
            add(source, "\(layer.outputCount) outputs per sample x batch of \(maxBatch) (\(batchField)) of activations",
                Self.sum([Self.product([perSample, maxBatch]), Self.product([layer.fixedScratch, scalar])]))
        }
        self.parts = parts
        totalBytes = Self.sum(parts.map(\.bytes))
    }

    /// The machine's physical memory in bytes, nil when the system does not say.
    package static var physicalMemoryBytes: Int? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return nil }
        return product([pages, pageSize])
    }

    /// The one-line problem when the estimate exceeds `physicalMemory` bytes, naming the largest
    /// part ("model.layers[1]: 1000000000 outputs x 784 inputs = 2.9 TiB of parameters ...");
    /// nil when it fits.
    package func problem(physicalMemory: Int) -> String? {
        guard totalBytes > physicalMemory, let largest = parts.max(by: { $0.bytes < $1.bytes }) else { return nil }
        return "\(largest.source): \(largest.description); the run needs about \(Self.format(totalBytes)), more than this machine's \(Self.format(physicalMemory))"
    }

    /// "1000000000 outputs x 784 inputs" for a linear layer, the tensor shapes otherwise.
    private static func describeParameters(of spec: LayerSpec, _ layer: LayerFootprint) -> String {
        switch spec {
        case .linear(let outputs): return "\(outputs) outputs x \(layer.parameterShapes[0][1]) inputs"
        case .conv2d(let outputs, let kernel, _, _): return "\(outputs) outputs x \(layer.inputShape[0]) channels x \(kernel) x \(kernel) kernel"
        default: return "\(layer.parameterCount) parameters"
        }
    }

    /// Optimizer state per parameter, an upper bound: momentum (SGD), two moments (AdamW), and for
    /// the preconditioned optimizers momentum, the grafting moments and a diagonal fallback.
    private static func optimizerBytesPerParameter(_ optimizer: OptimizerConfig) -> Int {
        switch optimizer.type {
        case .sgd: return 4
        case .adamw: return 8
        case .eigenShampoo, .spectral: return 4 + 8 + 16
        }
    }

    /// The limits the factors may be blocked at: `maxFactorDimension`, or for `auto`, which a
    /// run resolves only once it knows its ranks, every limit it may choose (`AutoBlocking`), so
    /// the estimate holds for whichever it takes.
    private static func factorLimits(_ preconditioner: PreconditionerOptions, shapes: [[Int]]) -> [Int] {
        preconditioner.factorDimensionLimit == .auto ? AutoBlocking.candidates(shapes: shapes) : [preconditioner.maxFactorDimension]
    }

    /// The Kronecker factors of a tensor of `shape` seen as a matrix (first dimension by the
    /// rest), blocked at `limit`: each side of each block keeps a few Double matrices
    /// (statistic, eigenvectors, root), bounded here by four.
    private static func factorBytes(shape: [Int], config: OptimizerConfig, limit: Int) -> Int {
        guard config.type == .eigenShampoo || config.type == .spectral, shape.count >= 2 else { return 0 }
        let rows = shape[0]
        let columns = product(Array(shape[1...]))
        let block = max(1, limit)
        func blocks(_ size: Int) -> Int { size / block + (size % block == 0 ? 0 : 1) }
        let elements = sum([product([blocks(columns), rows, min(rows, block)]), product([blocks(rows), columns, min(columns, block)])])
        return product([elements, 4, 8])
    }

    /// The product, `Int.max` when it overflows (every factor is at least 0).
    package static func product(_ factors: [Int]) -> Int {
        var result = 1
        for factor in factors {
            let (value, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return Int.max }
            result = value
        }
        return result
    }

    /// The sum, `Int.max` when it overflows (every term is at least 0).
    static func sum(_ terms: [Int]) -> Int {
        var result = 0
        for term in terms {
            let (value, overflow) = result.addingReportingOverflow(term)
            if overflow { return Int.max }
            result = value
        }
        return result
    }

    /// Bytes in binary units with one decimal ("2.9 TiB", "23.4 GiB"); "more than 8 EiB" at the
    /// saturation value.
    package static func format(_ bytes: Int) -> String {
        if bytes == Int.max { return "more than 8 EiB" }
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f", value) + " " + units[unit]
    }
}
