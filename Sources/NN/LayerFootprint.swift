/// What one layer of a model described by `LayerSpec`s holds, worked out from the specs and the
/// model's input shape with overflow-checked arithmetic before any layer is built, so a model
/// too large to represent or to fit in memory is a configuration error rather than a trap.
public struct LayerFootprint: Sendable, Equatable {
    /// The per-sample input and output shapes.
    public var inputShape: [Int]
    public var outputShape: [Int]
    /// Elements of one sample's output.
    public var outputCount: Int
    /// The shapes of the layer's parameter tensors (empty for a layer without parameters).
    public var parameterShapes: [[Int]]
    /// Elements of all parameter tensors.
    public var parameterCount: Int
    /// Elements the layer keeps per sample of a batch beside its output (dropout masks, pooling
    /// positions, normalisation statistics).
    public var scratchPerSample: Int
    /// Elements of scratch independent of the batch (a convolution's column matrices).
    public var fixedScratch: Int

    /// The footprint of every layer of `specs` applied in order to samples of `inputShape`; a
    /// layer that cannot take its input, or whose sizes overflow, is a `LayerShapeProblem`
    /// naming the layer and field.
    public static func of(_ specs: [LayerSpec], inputShape: [Int]) throws(LayerShapeProblem) -> [LayerFootprint] {
        var footprints: [LayerFootprint] = []
        var shape = inputShape
        for (index, spec) in specs.enumerated() {
            let footprint = try footprint(spec, inputShape: shape, index: index)
            footprints.append(footprint)
            shape = footprint.outputShape
        }
        return footprints
    }

    private static func footprint(_ spec: LayerSpec, inputShape: [Int], index: Int) throws(LayerShapeProblem) -> LayerFootprint {
        func problem(_ field: String?, _ message: String) -> LayerShapeProblem {
            LayerShapeProblem(layer: index, field: field, message: message)
        }
        func checked(_ factors: [Int], _ field: String?, _ what: String) throws(LayerShapeProblem) -> Int {
            guard let value = product(factors) else {
                throw problem(field, "\(what) \(factors.map(String.init).joined(separator: " x ")) is too large to represent")
            }
            return value
        }
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw problem(nil, "input shape \(inputShape) must have at least one dimension, each at least 1")
        }
        let inputCount = try checked(inputShape, nil, "input")
        var result = LayerFootprint(
            inputShape: inputShape, outputShape: inputShape, outputCount: inputCount,
            parameterShapes: [], parameterCount: 0, scratchPerSample: 0, fixedScratch: 0)
        switch spec {
        case .linear(let outputs):
            let weight = try checked([outputs, inputCount], "outputs", "weight")
            result.outputShape = [outputs]
            result.outputCount = outputs
            result.parameterShapes = [[outputs, inputCount], [outputs]]
            guard let parameters = weight.addingChecked(outputs) else { throw problem("outputs", "weight \(weight) + \(outputs) is too large to represent") }
            result.parameterCount = parameters
        case .relu, .gelu:
            break
        case .flatten:
            result.outputShape = [inputCount]
        case .dropout(let rate):
            result.scratchPerSample = rate > 0 ? inputCount : 0
        case .layerNorm:
            result.parameterShapes = [[inputCount], [inputCount]]
            result.parameterCount = try checked([2, inputCount], nil, "scale and shift")
            result.scratchPerSample = 2
        case .conv2d(let outputs, let kernel, let stride, let padding):
            let window = try slidingWindow(inputShape, kernel: kernel, stride: stride, padding: padding, problem: problem)
            result.outputShape = [outputs, window.height, window.width]
            result.outputCount = try checked(result.outputShape, "outputs", "output")
            result.parameterShapes = [[outputs, inputShape[0], kernel, kernel], [outputs]]
            let weight = try checked(result.parameterShapes[0], "outputs", "weight")
            guard let parameters = weight.addingChecked(outputs) else { throw problem("outputs", "weight \(weight) + \(outputs) is too large to represent") }
            result.parameterCount = parameters
            let pointwise = kernel == 1 && stride == 1 && padding == 0
            // Columns and their gradients, C k k x Ho Wo each.
            result.fixedScratch = pointwise ? 0 : try checked([2, inputShape[0], kernel, kernel, window.height, window.width], "kernel", "column matrices")
        case .maxPool(let kernel, let stride), .avgPool(let kernel, let stride):
            let window = try slidingWindow(inputShape, kernel: kernel, stride: stride, padding: 0, problem: problem)
            result.outputShape = [inputShape[0], window.height, window.width]
            result.outputCount = try checked(result.outputShape, "kernel", "output")
            if case .maxPool = spec { result.scratchPerSample = result.outputCount }
        }
        return result
    }

    /// The output height and width of a square window over a [channels, height, width] image.
    private static func slidingWindow(
        _ inputShape: [Int], kernel: Int, stride: Int, padding: Int, problem: (String?, String) -> LayerShapeProblem
    ) throws(LayerShapeProblem) -> (height: Int, width: Int) {
        guard inputShape.count == 3 else {
            throw problem(nil, "needs a [channels, height, width] image input, got \(inputShape)")
        }
        guard kernel >= 1, stride >= 1, padding >= 0 else {
            throw problem(nil, "kernel \(kernel), stride \(stride) and padding \(padding) must be at least 1, 1 and 0")
        }
        var outputs: [Int] = []
        for size in inputShape[1...] {
            guard let padded = product([2, padding]).flatMap({ size.addingChecked($0) }) else {
                throw problem("padding", "\(padding) is too large to represent around \(size)")
            }
            guard padded >= kernel else {
                throw problem("kernel", "\(kernel) is larger than the padded image \(inputShape[1]) x \(inputShape[2]) with padding \(padding)")
            }
            outputs.append((padded - kernel) / stride + 1)
        }
        return (outputs[0], outputs[1])
    }
}

/// The product of `factors`, nil when it overflows `Int`.
fileprivate func product(_ factors: [Int]) -> Int? {
    var result = 1
    for factor in factors {
        let (value, overflow) = result.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        result = value
    }
    return result
}

extension Int {
    /// `self + other`, nil when it overflows.
    fileprivate func addingChecked(_ other: Int) -> Int? {
        let (value, overflow) = addingReportingOverflow(other)
        return overflow ? nil : value
    }
}
