import Foundation
import Testing

/// The character language model as a user runs it: `train` on a text with the shipped config
/// (made tiny), the same curve on 1, 2 and 3 ranks, resume, `eval` and `sample`, and bad text files.
@Suite("character language model", .serialized)
struct LanguageModelCommandTests {
    /// A text of about 24 KB with structure to learn: speaker lines of words from a small list,
    /// drawn by a fixed linear congruential generator.
    static func syntheticPlay() -> String {
        let speakers = ["ROMEO", "JULIET", "NURSE", "MERCUTIO"]
        let words = ["love", "night", "the", "and", "thou", "art", "fair", "moon", "sweet", "death", "O", "my", "lord", "what", "light"]
        var state: UInt64 = 12345
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var text = ""
        while text.utf8.count < 24_000 {
            text += speakers[next(speakers.count)] + ":\n"
            for _ in 0..<(1 + next(3)) {
                text += (0..<(3 + next(5))).map { _ in words[next(words.count)] }.joined(separator: " ") + ".\n"
            }
            text += "\n"
        }
        return text
    }

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-lm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(Self.syntheticPlay().utf8).write(to: folder.appendingPathComponent("play.txt"))
        return folder
    }

    /// The shipped spectral config, made tiny: 1 block of width 16 with 2 heads, context 16,
    /// batch 12, the factors blocked at 32.
    static func arguments(name: String, folder: URL, steps: Int, config: String = "shakespeare-char.json", extra: [String] = []) -> [String] {
        ["train", CommandTests.config(config),
         "--set", "name=\(name)", "--set", "runDirectory=\(folder.path)",
         "--set", "data.text=\(folder.appendingPathComponent("play.txt").path)", "--set", "data.context=16",
         "--set", "data.validationWindows=40",
         "--set", #"model.transformer={"blocks":1,"width":16,"heads":2}"#,
         "--set", "training.batchSize=12", "--set", "training.evalBatchSize=20", "--set", "training.maxSteps=\(steps)",
         "--set", "training.logEvery=5", "--set", "training.evalEvery=10", "--set", "training.healthEvery=0"] + extra
    }

    func records(_ run: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// (loss, validation loss or nil) per metrics line.
    func curve(_ run: URL) throws -> [(Double, Double?)] {
        try records(run).map { ($0["loss"] as! Double, $0["testLoss"] as? Double) }
    }

    @Test("-np 1, 2 and 3 train the same character model: loss curves agree to 1e-5 (spectral, AdamW)",
          arguments: ["shakespeare-char.json", "shakespeare-char-adamw.json"])
    func equivalence(config: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var curves: [[(Double, Double?)]] = []
        for ranks in [1, 2, 3] {
            let result = try ProcessRunner.run(
                Self.arguments(name: "np\(ranks)", folder: folder, steps: 30, config: config), ranks: ranks == 1 ? nil : ranks, timeout: 600)
            #expect(result.status == 0, "\(result.allOutput)")
            curves.append(try curve(folder.appendingPathComponent("np\(ranks)")))
            if ranks == 1 {
                #expect(result.output.contains("validation: loss"), "\(result.output)")
                #expect(result.output.contains("tokens/s"))
            }
        }
        #expect(curves[0].count == 6)
        #expect(curves[0].compactMap(\.1).count == 3)
        // The model learns: the last logged training loss is well below log(vocabulary) at the start.
        #expect(curves[0].last!.0 < curves[0].first!.0 - 0.3, "\(curves[0])")
        let dist = DistributedTrainingTests()
        #expect(dist.largestDifference(curves[0], curves[1]) < DistributedTrainingTests.tolerance)
        #expect(dist.largestDifference(curves[0], curves[2]) < DistributedTrainingTests.tolerance)
    }

    @Test("resume of a character model is bit-identical on 1 rank and continues on 2; eval and sample read the checkpoint")
    func resumeEvalSample() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let save = ["--set", "checkpoint.everySteps=10", "--set", "training.logEvery=1"]
        let first = try ProcessRunner.run(Self.arguments(name: "a", folder: folder, steps: 20, extra: save), timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        let a = folder.appendingPathComponent("a")
        let vocabulary = try JSONSerialization.jsonObject(with: Data(contentsOf: a.appendingPathComponent("vocabulary.json"))) as! [String: Any]
        let characters = vocabulary["characters"] as! [String]
        #expect(characters == Set(Self.syntheticPlay().unicodeScalars).map { String($0) }.sorted { $0.unicodeScalars.first!.value < $1.unicodeScalars.first!.value })

        let middle = a.appendingPathComponent("ckpt-000010").path
        for ranks in [1, 2] {
            let name = "resumed\(ranks)"
            let resumed = try ProcessRunner.run(
                Self.arguments(name: name, folder: folder, steps: 20, extra: save + ["--resume", middle, "--branch"]),
                ranks: ranks == 1 ? nil : ranks, timeout: 600)
            #expect(resumed.status == 0, "\(resumed.allOutput)")
            let continued = folder.appendingPathComponent(name)
            if ranks == 1 {
                #expect(try records(continued).map { "\($0["loss"]!) \($0["testLoss"] ?? "-")" } == records(a).map { "\($0["loss"]!) \($0["testLoss"] ?? "-")" })
                #expect(try Data(contentsOf: continued.appendingPathComponent("ckpt-000020/model.safetensors"))
                        == Data(contentsOf: a.appendingPathComponent("ckpt-000020/model.safetensors")))
            } else {
                let dist = DistributedTrainingTests()
                #expect(dist.largestDifference(try curve(continued), try curve(a)) < DistributedTrainingTests.tolerance)
            }
        }

        // eval reproduces the validation loss logged at the checkpoint's step.
        let logged = try records(a).first { $0["step"] as? Int == 20 }?["testLoss"] as? Double
        let evaluated = try ProcessRunner.run(["eval", a.path, "--json"], timeout: 120)
        #expect(evaluated.status == 0, "\(evaluated.allOutput)")
        let result = try JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as! [String: Any]
        #expect(result["split"] as? String == "validation")
        #expect(result["samples"] as? Int == 40 * 16)
        let loss = result["loss"] as! Double
        #expect(abs(loss - (logged ?? .nan)) <= 1e-6 * loss, "eval \(loss), logged \(String(describing: logged))")

        // sample: the prompt, then the asked-for characters, the same for the same seed.
        func sample(_ extra: [String]) throws -> ProcessRunner.Result {
            try ProcessRunner.run(["sample", a.path, "--prompt", "ROMEO:", "--tokens", "60"] + extra, timeout: 120)
        }
        let one = try sample(["--seed", "7"])
        let again = try sample(["--seed", "7"])
        let other = try sample(["--seed", "8"])
        #expect(one.status == 0, "\(one.allOutput)")
        #expect(one.output == again.output)
        #expect(one.output != other.output)
        #expect(one.output.hasPrefix("ROMEO:"))
        #expect(one.output.unicodeScalars.count == "ROMEO:".count + 60 + 1)
        #expect(Set(one.output.unicodeScalars.map { String($0) }).isSubset(of: Set(characters)))
        let greedy = try sample(["--temperature", "0", "--seed", "1"])
        let greedyOther = try sample(["--temperature", "0", "--seed", "2"])
        #expect(greedy.status == 0 && greedy.output == greedyOther.output)

        let unknown = try sample(["--prompt", "ROMEO€"])
        #expect(unknown.status != 0)
        #expect(unknown.errorOutput.contains("--prompt: character 6 (U+20AC) is not among the model's \(characters.count) characters"), "\(unknown.errorOutput)")
        #expect(unknown.errorOutput.split(separator: "\n").count == 1)
    }

    @Test("a text file that cannot train a character model is one line naming the file",
          arguments: [("empty", Data()), ("latin1", Data([0x52, 0x4F, 0xE9, 0x4D, 0x45, 0x4F])), ("short", Data("ROMEO: hi\n".utf8))])
    func badText(name: String, bytes: Data) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("\(name).txt")
        try bytes.write(to: path)
        let result = try ProcessRunner.run(Self.arguments(name: "bad", folder: folder, steps: 5, extra: ["--set", "data.text=\(path.path)"]), timeout: 120)
        #expect(result.status != 0)
        let lines = result.errorOutput.split(separator: "\n")
        #expect(lines.count == 1, "\(result.errorOutput)")
        #expect(result.errorOutput.contains(path.path), "\(result.errorOutput)")
        let expected = ["empty": "is empty", "latin1": "is not UTF-8 text: byte 2", "short": "each part needs at least one window of 17"][name]!
        #expect(result.errorOutput.contains(expected), "\(result.errorOutput)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("bad").path))
    }
}
