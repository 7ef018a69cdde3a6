import Linalg

/// A chain of layers over one flat parameter store: shapes are resolved, parameters named
/// "<index>_<kind>.<suffix>" (e.g. "1_linear.weight") and every buffer a step needs allocated
/// once, for batches of up to `maxBatch` samples.
///
/// A layer that shares the weight of the first `TokenEmbedding` (an `EmbeddingTiedLayer`) is
/// tied to that tensor; it holds no tensor of its own, so every parameter is counted once.
///
/// Each layer writes its output into its own buffer (backward needs every activation); the
/// gradients with respect to activations flow backwards through two ping-pong buffers of the
/// largest activation size: layer i > 0 writes its input gradient into buffer i mod 2 and reads its
/// output gradient from buffer (i + 1) mod 2.
package final class Sequential<Scalar: LinalgScalar> {
    /// The per-sample input shape.
    package let inputShape: [Int]
    /// The layers, first to last.
    package let layers: [any Layer<Scalar>]
    /// The largest batch forward and backward accept.
    package let maxBatch: Int
    /// All parameters and their gradients.
    package let parameters: ParameterStore<Scalar>
    /// The per-sample output shape of each layer.
    package let layerOutputShapes: [[Int]]
    /// Each layer's name in parameter names, "<index>_<kind>".
    package let layerNames: [String]
    /// The indices in `parameters.specs` of each layer's tensors.
    package let parameterIndices: [[Int]]
    /// The layer of each parameter tensor (the inverse of `parameterIndices`).
    package var tensorLayers: [Int] {
        var layers = [Int](repeating: 0, count: parameters.specs.count)
        for (layer, tensors) in parameterIndices.enumerated() { for tensor in tensors { layers[tensor] = layer } }
        return layers
    }
    /// Told at each layer boundary of forward and backward (data-parallel overlap); nil: nobody.
    package weak var boundaryObserver: (any LayerBoundaryObserver)?

    /// The first layer with parameters (`layers.count` if none): backward stops there, as no
    /// layer before it has a gradient to compute, and it computes no input gradient (after a
    /// flatten, the first linear layer's would be a GEMM as large as its weight gradient's).
    private let firstTrainedLayer: Int
    private let activations: [ScratchBuffer<Scalar>]
    private let activationGradients: [ScratchBuffer<Scalar>]
    /// The layers keeping their weight gradient's factors, by the weight's tensor index.
    private var factoredLayers: [Int: any FactoredGradientLayer<Scalar>] = [:]

    /// Resolves every layer's shapes for `inputShape` and allocates the model; a shape a layer
    /// cannot take is an error naming the layer by its position.
    package init(inputShape: [Int], layers: [any Layer<Scalar>], maxBatch: Int) throws(ModelError) {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 >= 1 }) else { throw .invalidInputShape(inputShape) }
        guard maxBatch >= 1 else { throw .invalidMaxBatch(maxBatch) }
        guard !layers.isEmpty else { throw .noLayers }
        var shapes: [[Int]] = []
        var names: [String] = []
        var tensors: [(name: String, shape: [Int])] = []
        var indices: [[Int]] = []
        var currentShape = inputShape
        var embeddingWeight: (index: Int, shape: [Int])?
        for (index, layer) in layers.enumerated() {
            let name = "\(index)_\(layer.kind)"
            if let tied = layer as? any EmbeddingTiedLayer<Scalar> {
                guard let embeddingWeight else {
                    throw .incompatibleInput(
                        layer: name, inputShape: currentShape, reason: "no earlier embedding layer whose weight it could share")
                }
                tied.tie(toEmbeddingWeight: embeddingWeight.index, shape: embeddingWeight.shape)
            }
            let outputShape: [Int]
            do {
                outputShape = try layer.outputShape(for: currentShape)
            } catch {
                throw error.renamingLayer(to: name)
            }
            let layerTensors = layer.parameterShapes(inputShape: currentShape)
            if embeddingWeight == nil, layer is TokenEmbedding<Scalar> {
                embeddingWeight = (tensors.count, layerTensors[0].shape)
            }
            indices.append(Array(tensors.count..<(tensors.count + layerTensors.count)))
            tensors += layerTensors.map { ("\(name).\($0.name)", $0.shape) }
            names.append(name)
            shapes.append(outputShape)
            currentShape = outputShape
        }
        self.inputShape = inputShape
        self.layers = layers
        self.maxBatch = maxBatch
        self.layerOutputShapes = shapes
        self.layerNames = names
        self.parameterIndices = indices
        self.firstTrainedLayer = indices.firstIndex { !$0.isEmpty } ?? layers.count
        self.parameters = ParameterStore(tensors: tensors)
        self.activations = shapes.map { ScratchBuffer(count: maxBatch * elementCount($0), initialValue: 0) }
        // Layer i > 0 writes the gradient of its input, the output of layer i - 1.
        let largest = shapes.dropLast().map(elementCount).max() ?? 0
        self.activationGradients = (0..<2).map { _ in ScratchBuffer(count: maxBatch * largest, initialValue: 0) }
        var layerInputShape = inputShape
        for (index, layer) in layers.enumerated() {
            layer.bind(store: parameters, parameterIndices: indices[index], inputShape: layerInputShape, maxBatch: maxBatch)
            layerInputShape = shapes[index]
        }
    }

    /// A model of the layers `specs` describe.
    package static func build(inputShape: [Int], specs: [LayerSpec], maxBatch: Int) throws(ModelError) -> Sequential<Scalar> {
        try Sequential(inputShape: inputShape, layers: specs.map { spec -> any Layer<Scalar> in spec.makeLayer() }, maxBatch: maxBatch)
    }

    /// The per-sample output shape of the model.
    package var outputShape: [Int] { layerOutputShapes.last! }
    /// Elements of one sample's output.
    package var outputCount: Int { elementCount(outputShape) }
    /// Elements of one sample's input.
    package var inputCount: Int { elementCount(inputShape) }

    /// Initialises every layer's parameters, in layer order, from one generator seeded with `seed`.
    package func initialize(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for layer in layers { layer.initialize(store: parameters, using: &generator) }
    }

    /// Runs the layers on `batch` samples and returns the last layer's output (batch x
    /// outputCount), a view valid until the next forward.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func forward(input: UnsafeBufferPointer<Scalar>, batch: Int, context: ForwardContext) -> UnsafeBufferPointer<Scalar> {
        precondition(batch >= 0 && batch <= maxBatch, "Sequential.forward: batch \(batch) outside 0...\(maxBatch) (maxBatch)")
        precondition(input.count >= batch * inputCount, "Sequential.forward: \(input.count) input elements for \(batch) x \(inputCount)")
        var layerContext = context
        var layerInput = UnsafeBufferPointer(rebasing: input[0..<(batch * inputCount)])
        for (index, layer) in layers.enumerated() {
            layerContext.layerIndex = index
            boundaryObserver?.willRunForward(layer: index)
            let output = activationView(index, batch: batch)
            layer.forward(input: layerInput, output: output, batch: batch, context: layerContext)
            layerInput = UnsafeBufferPointer(output)
        }
        return layerInput
    }

    /// Back-propagates `outputGradient` (the loss gradient with respect to the output of the last
    /// forward, batch x outputCount) through the layers, ADDING every parameter gradient into
    /// `parameters.gradients` (the caller zeroes them between steps). `input`, `batch` and
    /// `context` must be those of that forward.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package func backward(input: UnsafeBufferPointer<Scalar>, outputGradient: UnsafeBufferPointer<Scalar>, batch: Int, context: ForwardContext) {
        precondition(batch >= 0 && batch <= maxBatch, "Sequential.backward: batch \(batch) outside 0...\(maxBatch) (maxBatch)")
        precondition(input.count >= batch * inputCount, "Sequential.backward: \(input.count) input elements for \(batch) x \(inputCount)")
        precondition(outputGradient.count >= batch * outputCount,
                     "Sequential.backward: \(outputGradient.count) output-gradient elements for \(batch) x \(outputCount)")
        var layerContext = context
        var layerOutputGradient = UnsafeBufferPointer(rebasing: outputGradient[0..<(batch * outputCount)])
        for index in layers.indices.reversed() {
            guard index >= firstTrainedLayer else {
                boundaryObserver?.didFinishBackward(layer: index)
                continue
            }
            layerContext.layerIndex = index
            let layerInput = index == 0
                ? UnsafeBufferPointer(rebasing: input[0..<(batch * inputCount)])
                : UnsafeBufferPointer(activationView(index - 1, batch: batch))
            let layerInputGradient: UnsafeMutableBufferPointer<Scalar>? = index == firstTrainedLayer
                ? nil
                : UnsafeMutableBufferPointer(rebasing: activationGradients[index % 2].buffer[0..<layerInput.count])
            layers[index].backward(
                input: layerInput, output: UnsafeBufferPointer(activationView(index, batch: batch)),
                outputGradient: layerOutputGradient, inputGradient: layerInputGradient, batch: batch, context: layerContext)
            if let layerInputGradient { layerOutputGradient = UnsafeBufferPointer(layerInputGradient) }
            boundaryObserver?.didFinishBackward(layer: index)
        }
    }

    /// Makes every layer whose weight gradient is a thin product keep its factors where
    /// `choose(tensor, rows)` says, `rows` being the factors' rows for backward passes of `batch`
    /// samples (`FactoredGradientLayer`); returns those tensors' indices.
    @discardableResult
    package func keepFactoredGradients(batch: Int, where choose: (_ tensor: Int, _ rows: Int) -> Bool) -> [Int] {
        for case let layer as any FactoredGradientLayer<Scalar> in layers where choose(layer.factoredTensor, layer.factorRows(batch: batch)) {
            layer.keepFactoredGradient()
            factoredLayers[layer.factoredTensor] = layer
        }
        return factoredLayers.keys.sorted()
    }

    /// The factors of tensor `tensor`'s gradient, if its layer keeps them and they describe it.
    package func factoredGradient(tensor: Int) -> FactoredGradient<Scalar>? {
        factoredLayers[tensor]?.factoredGradient
    }

    /// The output of layer `index` for `batch` samples.
    private func activationView(_ index: Int, batch: Int) -> UnsafeMutableBufferPointer<Scalar> {
        let count = batch * elementCount(layerOutputShapes[index])
        return UnsafeMutableBufferPointer(rebasing: activations[index].buffer[0..<count])
    }

    /// A table of the layers: name, per-sample output shape and parameter count, with the total.
    package var summary: String {
        var rows: [(String, String, String)] = [("layer", "output shape", "parameters"), ("input", "\(inputShape)", "")]
        for (index, name) in layerNames.enumerated() {
            let count = parameterIndices[index].map { parameters.specs[$0].count }.reduce(0, +)
            rows.append((name, "\(layerOutputShapes[index])", "\(count)"))
        }
        rows.append(("total", "", "\(parameters.count)"))
        let nameWidth = rows.map(\.0.count).max()!
        let shapeWidth = rows.map(\.1.count).max()!
        let countWidth = rows.map(\.2.count).max()!
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            let fill = String(repeating: " ", count: width - text.count)
            return right ? fill + text : text + fill
        }
        return rows.map { row in
            "\(pad(row.0, nameWidth))  \(pad(row.1, shapeWidth))  \(pad(row.2, countWidth, right: true))"
        }.joined(separator: "\n")
    }
}
