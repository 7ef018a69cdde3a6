/// What one layer of a model described by `LayerSpec`s holds, worked out from the specs and the
/// model's input shape with overflow-checked arithmetic before any layer is built, so a model
/// too large to represent or to fit in memory is a configuration error rather than a trap.
package struct LayerFootprint: Sendable, Equatable {
    /// The per-sample input and output shapes.
    package var inputShape: [Int]
    package var outputShape: [Int]
    /// Elements of one sample's output.
    package var outputCount: Int
    /// The shapes of the layer's parameter tensors (empty for a layer without parameters).
    package var parameterShapes: [[Int]]
    /// Elements of all parameter tensors.
    package var parameterCount: Int
    /// Elements the layer keeps per sample of a batch beside its output (dropout masks, pooling
    /// positions, normalisation statistics, a transformer block's inner activations and the
    /// gradients it passes between its parts).
    package var scratchPerSample: Int
    /// Elements of scratch independent of the batch (a convolution's column matrices).
    package var fixedScratch: Int

    /// The footprint of every layer of `specs` applied in order to samples of `inputShape`; a
    /// layer that cannot take its input, or whose sizes overflow, is a `LayerShapeProblem`
    /// naming the layer and field.
    package static func of(_ specs: [LayerSpec], inputShape: [Int]) throws(LayerShapeProblem) -> [LayerFootprint] {
        var footprints: [LayerFootprint] = []
        var shape = inputShape
        var embedding: (vocabulary: Int, width: Int)?
        for (index, spec) in specs.enumerated() {
            let footprint = try footprint(spec, inputShape: shape, index: index, embedding: embedding)
            footprints.append(footprint)
            shape = footprint.outputShape
            if embedding == nil, case .embedding(let vocabulary, let width) = spec { embedding = (vocabulary, width) }
        }
        return footprints
    }

    /// The footprint of one layer; `embedding` is the vocabulary and width of the first
    /// embedding before it, whose weight a tied head shares.
    private static func footprint(
        _ spec: LayerSpec, inputShape: [Int], index: Int, embedding: (vocabulary: Int, width: Int)?
    ) throws(LayerShapeProblem) -> LayerFootprint {
        func problem(_ field: String?, _ message: String) -> LayerShapeProblem {
            LayerShapeProblem(layer: index, field: field, message: message)
        }
        func checked(_ factors: [Int], _ field: String?, _ what: String) throws(LayerShapeProblem) -> Int {
            guard let value = product(factors) else {
                throw problem(field, "\(what) \(factors.map(String.init).joined(separator: " x ")) is too large to represent")
            }
            return value
        }
        /// The sum of the products `terms`, each and the sum checked.
        func checkedSum(_ terms: [[Int]], _ field: String?, _ what: String) throws(LayerShapeProblem) -> Int {
            var total = 0
            for term in terms {
                guard let sum = total.addingChecked(try checked(term, field, what)) else {
                    throw problem(field, "\(what) is too large to represent")
                }
                total = sum
            }
            return total
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
        case .relu:
            break
        case .gelu:
            result.scratchPerSample = inputCount  // the derivative a training forward keeps
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
        case .tokenLinear(let outputs):
            let (rows, width) = (inputCount / inputShape.last!, inputShape.last!)
            result.outputShape = inputShape.dropLast() + [outputs]
            result.outputCount = try checked([rows, outputs], "outputs", "output")
            result.parameterShapes = [[outputs, width], [outputs]]
            result.parameterCount = try checkedSum(result.parameterShapes, "outputs", "weight and bias")
        case .tokenLayerNorm:
            let (rows, width) = (inputCount / inputShape.last!, inputShape.last!)
            result.parameterShapes = [[width], [width]]
            result.parameterCount = try checked([2, width], nil, "scale and shift")
            result.scratchPerSample = try checked([2, rows], nil, "statistics")
        case .embedding(let vocabulary, let width):
            guard vocabulary >= 1, width >= 1 else {
                throw problem(vocabulary < 1 ? "vocabulary" : "width", "must be at least 1, got \(vocabulary < 1 ? vocabulary : width)")
            }
            guard inputShape.count == 1 else {
                throw problem(nil, "needs a [tokens] input of token ids, got \(inputShape)")
            }
            result.outputShape = [inputShape[0], width]
            result.outputCount = try checked(result.outputShape, "width", "output")
            result.parameterShapes = [[vocabulary, width]]
            result.parameterCount = try checked([vocabulary, width], "vocabulary", "weight")
        case .positions:
            guard inputShape.count == 2 else {
                throw problem(nil, "needs a [tokens, width] input, got \(inputShape)")
            }
            result.parameterShapes = [inputShape]
            result.parameterCount = inputCount
        case .block(let heads, let mlpRatio):
            guard inputShape.count == 2 else {
                throw problem(nil, "needs a [tokens, width] input, got \(inputShape)")
            }
            let (tokens, width) = (inputShape[0], inputShape[1])
            guard heads >= 1, mlpRatio >= 1 else {
                throw problem(heads < 1 ? "heads" : "mlpRatio", "must be at least 1, got \(heads < 1 ? heads : mlpRatio)")
            }
            guard width % heads == 0 else {
                throw problem("heads", "the width \(width) is not a multiple of the \(heads) heads")
            }
            let hidden = try checked([mlpRatio, width], "mlpRatio", "MLP width")
            let queryKeyValues = try checked([3, width], nil, "query, key and value width")
            result.parameterShapes = [
                [width], [width], [queryKeyValues, width], [queryKeyValues], [width, width], [width],
                [width], [width], [hidden, width], [hidden], [width, hidden], [width],
            ]
            result.parameterCount = try checkedSum(result.parameterShapes, "mlpRatio", "parameters")
            // Inner activations LN1, Attn, x1, LN2, Proj (T C each) and FC, GELU and GELU's kept
            // derivative (T r C each); gradients of GELU's output and input (T r C each) and of LN2's output, x1 (T C
            // each); attention's QKV and their gradients (3 T C each), attended values and their
            // gradient (T C each) and probabilities (H T²); two LayerNorms' statistics (2 T each);
            // the score gradients (T² per parallel worker, and there are at most as many workers as
            // samples, so T² per sample bounds them).
            result.scratchPerSample = try checkedSum(
                [[15, tokens, width], [5, tokens, hidden], [heads + 1, tokens, tokens], [4, tokens]], "heads", "scratch")
        case .tiedHead:
            guard let embedding else {
                throw problem(nil, "a tied head needs an earlier embedding layer whose weight it shares")
            }
            guard inputShape.last == embedding.width else {
                throw problem(nil, "input width \(inputShape.last!) differs from the embedding's width \(embedding.width)")
            }
            result.outputShape = inputShape.dropLast() + [embedding.vocabulary]
            result.outputCount = try checked([inputCount / embedding.width, embedding.vocabulary], nil, "output")
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
