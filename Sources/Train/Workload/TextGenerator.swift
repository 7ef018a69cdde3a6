import Checkpoint
import Datasets
import Foundation
import Linalg
import NN

/// A character language model read back from a checkpoint, for writing text (`spectrain sample`):
/// the model built from the checkpoint's own configuration and vocabulary, without the training
/// text, and its parameters loaded after their names, shapes and types are checked.
package final class TextGenerator {
    package let model: Sequential<Float>
    package let vocabulary: CharacterVocabulary
    /// The characters the model sees at once.
    package let context: Int
    /// Training steps the checkpoint had completed.
    package let step: Int
    private var window: [Float]

    /// The model of the checkpoint `contents`, read from `folder`; a checkpoint of an image model,
    /// or one whose configuration or tensors do not make a model this machine can hold, is a
    /// one-line error.
    package init(checkpoint contents: CheckpointContents, folder: String) throws(TrainError) {
        let manifest = try CheckpointManifest(contents.manifest, folder: folder)
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        guard let vocabulary = manifest.vocabulary, manifest.config.data.text != nil else {
            throw TrainError("\(manifestPath): not a language model's checkpoint (it has no vocabulary); sample writes text from character models")
        }
        var config = manifest.config
        (config.training.batchSize, config.training.evalBatchSize) = (1, 1)
        let specs = config.model.layerSpecs(vocabulary: vocabulary.count)
        let layers: [LayerFootprint]
        do {
            layers = try LayerFootprint.of(specs, inputShape: [config.data.context])
        } catch {
            throw TrainError("\(manifestPath): model.\(error)")
        }
        if let physicalMemory = MemoryBudget.physicalMemoryBytes,
           let problem = MemoryBudget(config: config, textBytes: 0, sampleShape: [config.data.context], specs: specs, layers: layers)
               .problem(physicalMemory: physicalMemory) {
            throw TrainError("\(manifestPath): \(problem)")
        }
        model = try LanguageModeling.buildModel(config: config, vocabulary: vocabulary.count, maxBatch: 1)
        try Trainer.checkParameters(of: model.parameters, in: contents, folder: folder)
        Trainer.loadParameters(into: model.parameters, from: contents)
        self.vocabulary = vocabulary
        context = config.data.context
        step = manifest.step
        window = [Float](repeating: 0, count: context)
    }

    /// The tokens of `prompt`; a character the vocabulary lacks is an error naming it.
    package func tokens(of prompt: String) throws(TrainError) -> [UInt16] {
        var tokens: [UInt16] = []
        for (offset, character) in prompt.unicodeScalars.enumerated() {
            guard let token = vocabulary.token(of: character) else {
                let code = "U+" + String(character.value, radix: 16, uppercase: true)
                throw TrainError("--prompt: character \(offset + 1) (\(code)) is not among the model's \(vocabulary.count) characters")
            }
            tokens.append(token)
        }
        return tokens
    }

    /// Continues `prompt` by `count` characters, each drawn from the model's distribution for the
    /// next character at `temperature` (0: always the most likely) from a generator seeded with
    /// `seed`, so the same arguments give the same text. `emit` receives each new character.
    /// An empty prompt starts from a line break (or the first character when there is none).
    package func generate(
        prompt: [UInt16], count: Int, temperature: Double, seed: UInt64, emit: (String) -> Void = { _ in }
    ) -> [UInt16] {
        precondition(temperature >= 0 && temperature.isFinite, "TextGenerator: temperature \(temperature)")
        var history = prompt.isEmpty ? [vocabulary.token(of: "\n") ?? 0] : prompt
        var generator = SeededGenerator(seed: seed)
        var probabilities = [Double](repeating: 0, count: vocabulary.count)
        var generated: [UInt16] = []
        generated.reserveCapacity(count)
        for _ in 0..<count {
            // The model is causal: the scores at the last real position ignore the padding after it.
            let visible = history.suffix(context)
            window.withUnsafeMutableBufferPointer { window in
                for (position, token) in visible.enumerated() { window[position] = Float(token) }
                window[visible.count...].update(repeating: 0)
            }
            let logits = window.withUnsafeBufferPointer { model.forward(input: $0, batch: 1, context: .inference) }
            let row = UnsafeBufferPointer(rebasing: logits[((visible.count - 1) * vocabulary.count)...].prefix(vocabulary.count))
            let token = Self.draw(from: row, temperature: temperature, probabilities: &probabilities, using: &generator)
            history.append(token)
            generated.append(token)
            emit(vocabulary.decode([token]))
        }
        return generated
    }

    /// A token drawn with probability ∝ exp(logit / temperature) (the largest logit subtracted
    /// first, in Double), by inverting the cumulative sum at a uniform draw of 53 bits; the most
    /// likely token (the lowest on ties) at temperature 0.
    static func draw(
        from logits: UnsafeBufferPointer<Float>, temperature: Double, probabilities: inout [Double], using generator: inout SeededGenerator
    ) -> UInt16 {
        var best = 0
        for index in logits.indices where logits[index] > logits[best] { best = index }
        guard temperature > 0 else { return UInt16(best) }
        let maximum = Double(logits[best])
        var total = 0.0
        for index in logits.indices {
            probabilities[index] = Foundation.exp((Double(logits[index]) - maximum) / temperature)
            total += probabilities[index]
        }
        let target = Double(generator.next() >> 11) * 0x1.0p-53 * total
        var cumulative = 0.0
        for index in logits.indices {
            cumulative += probabilities[index]
            if target < cumulative { return UInt16(index) }
        }
        return UInt16(best)
    }
}
