import ArgumentParser
import Checkpoint
import Foundation
import Train

/// `spectrain sample CKPT`: text from a saved character language model, the same for the same
/// arguments.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Write text with a saved character language model.",
        discussion: """
            Continues the prompt one character at a time, each drawn from the model's distribution at the
            temperature (0: always the most likely character), from a generator seeded with --seed:
              spectrain sample runs/shakespeare-char --prompt "ROMEO:" --tokens 500 --temperature 0.8 --seed 1
            """)

    @Argument(help: "A checkpoint folder, or a run folder (its latest checkpoint).")
    var checkpoint: String

    @Option(help: "The text to continue (every character must be in the model's vocabulary).")
    var prompt = ""

    @Option(help: ArgumentHelp("Characters to write.", valueName: "n"))
    var tokens = 500

    @Option(help: ArgumentHelp("Sampling temperature: below 1 favours likely characters; 0 always takes the most likely.", valueName: "t"))
    var temperature = 0.8

    @Option(help: "Seed of the draws.")
    var seed: UInt64 = 1

    @OptionGroup var runtime: RuntimeOptions

    static let maximumTokens = 10_000_000

    func validate() throws {
        guard (0...Self.maximumTokens).contains(tokens) else {
            throw ValidationError("--tokens must be in 0...\(Self.maximumTokens), got \(tokens)")
        }
        guard temperature.isFinite, (0...100).contains(temperature) else {
            throw ValidationError("--temperature must be in 0...100, got \(temperature)")
        }
    }

    func run() throws {
        _ = try Runtime.start(runtime)
        let folder = try CheckpointStore.resolve(checkpoint)
        let generator = try TextGenerator(checkpoint: try CheckpointStore.read(folder), folder: folder)
        let promptTokens = try generator.tokens(of: prompt)
        FileHandle.standardOutput.write(Data(prompt.utf8))
        _ = generator.generate(prompt: promptTokens, count: tokens, temperature: temperature, seed: seed) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
