import Datasets
import Foundation
import Testing

@Suite("Text corpus")
struct TextCorpusTests {
    /// Where `launch/prepare-shakespeare.sh` puts the corpus by default (`.ci/run` prepares it).
    static let shakespeare = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("data/shakespeare/shakespeare.txt").path

    @Test("the prepared Shakespeare corpus: 5,057,198 ASCII characters, 84 distinct, split 4,551,479 / 505,719",
          .enabled(if: FileManager.default.fileExists(atPath: shakespeare), "run launch/prepare-shakespeare.sh"))
    func realCorpus() throws {
        let corpus = try TextCorpus.load(path: Self.shakespeare, context: 128)
        #expect(corpus.vocabulary.count == 84)
        #expect(corpus.training.count == 4_551_479 && corpus.validation.count == 505_719)
        #expect(corpus.vocabulary.decode(corpus.training.prefix(40)).unicodeScalars.count == 40)
    }

    static let play = """
        ROMEO:
        But, soft! what light through yonder window breaks?
        It is the east, and Juliet is the sun.

        JULIET:
        O Romeo, Romeo! wherefore art thou Romeo?
        Deny thy father and refuse thy name; – café, naïve, 🌹.

        """

    @Test("the text splits into the first 90% and the last 10%, and decodes back to itself")
    func split() throws {
        let corpus = try TextCorpus(utf8: Array(Self.play.utf8), context: 8, path: "play.txt")
        let characters = Self.play.unicodeScalars.count
        #expect(corpus.validation.count == Int(Double(characters) * 0.1))
        #expect(corpus.training.count + corpus.validation.count == characters)
        #expect(corpus.vocabulary.decode(corpus.training + corpus.validation) == Self.play)
        #expect(TextCorpus.windowCount(tokens: corpus.training.count, context: 8) == corpus.training.count - 8)
    }

    @Test("one token per Unicode scalar, ordered by code point, multi-byte characters included")
    func vocabulary() throws {
        let corpus = try TextCorpus(utf8: Array(Self.play.utf8), context: 8, path: "play.txt")
        let expected = Set(Self.play.unicodeScalars).sorted { $0.value < $1.value }
        #expect(corpus.vocabulary.characters == expected)
        #expect(corpus.vocabulary.token(of: "\n") == 0)
        #expect(corpus.vocabulary.token(of: "🌹") == UInt16(expected.count - 1))
        #expect(corpus.vocabulary.token(of: "Z") == nil)
        #expect(corpus.vocabulary.decode([0, 99_999]) == "\n\u{FFFD}")
    }

    @Test("the vocabulary survives JSON; a damaged one is refused")
    func vocabularyJSON() throws {
        let vocabulary = CharacterVocabulary(of: "ba\nc🌹".unicodeScalars)
        let data = try JSONEncoder().encode(vocabulary)
        #expect(try JSONDecoder().decode(CharacterVocabulary.self, from: data) == vocabulary)
        for damaged in [#"{"characters":["b","a"]}"#, #"{"characters":["a","a"]}"#, #"{"characters":["ab"]}"#, #"{"characters":[]}"#] {
            #expect(throws: DecodingError.self, "\(damaged)") { try JSONDecoder().decode(CharacterVocabulary.self, from: Data(damaged.utf8)) }
        }
    }

    @Test("bad text is one line naming the file: empty, not UTF-8 (with the offset), too short for a window")
    func badText() throws {
        func message(_ bytes: [UInt8], context: Int = 8) -> String {
            do {
                _ = try TextCorpus(utf8: bytes, context: context, path: "t.txt")
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(message([]) == "t.txt: is empty; a text corpus needs text")
        #expect(message(Array("héllo".utf8) + [0xFF] + Array(String(repeating: "x", count: 200).utf8))
            == "t.txt: is not UTF-8 text: byte 6 (0xFF) does not start a valid character")
        #expect(message([0xC3]) == "t.txt: is not UTF-8 text: byte 0 (0xC3) does not start a valid character")
        #expect(message(Array(String(repeating: "ab", count: 40).utf8)).hasPrefix("t.txt: holds 80 characters; with 10% held out for validation, each part needs at least one window of 9"))
        #expect(message(Array("abc".utf8), context: 0) == "t.txt: context must be at least 1 character, got 0")
    }

    @Test("load reads a file; a missing file is named")
    func load() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.play.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try TextCorpus.load(path: path, context: 4).vocabulary.decode(try TextCorpus.load(path: path, context: 4).training).count > 100)
        #expect(throws: DataError.self) { try TextCorpus.load(path: path + ".missing", context: 4) }
    }

    @Test("validation windows are evenly spaced, do not overlap, fit the part, and are all of them when asked for 0")
    func validationWindows() throws {
        let text = String(repeating: Self.play, count: 20)
        let corpus = try TextCorpus(utf8: Array(text.utf8), context: 8, path: "play.txt")
        let available = (corpus.validation.count - 1) / 8
        let all = corpus.validationStarts(count: 0, context: 8)
        #expect(all == (0..<available).map { $0 * 8 })
        #expect(corpus.validationStarts(count: available + 5, context: 8) == all)
        let some = corpus.validationStarts(count: 7, context: 8)
        #expect(some.count == 7 && some.first == 0)
        #expect(zip(some, some.dropFirst()).allSatisfy { $1 - $0 >= 8 })
        #expect(some.last! + 8 < corpus.validation.count)
        // Evenly spread: the last chosen window is in the last seventh of the part.
        #expect(some.last! >= (available - available / 7 - 1) * 8)
    }

    @Test("a window's inputs are its context tokens and its targets the same tokens one place on")
    func windows() throws {
        let corpus = try TextCorpus(utf8: Array(Self.play.utf8), context: 5, path: "play.txt")
        var inputs = [Float](repeating: -1, count: 15)
        var targets = [Int32](repeating: -1, count: 15)
        let starts = [0, 17, corpus.training.count - 6]
        TextCorpus.fillWindows(of: corpus.training, starts: starts, context: 5, inputs: &inputs, targets: &targets)
        for (window, start) in starts.enumerated() {
            for position in 0..<5 {
                #expect(inputs[window * 5 + position] == Float(corpus.training[start + position]))
                #expect(targets[window * 5 + position] == Int32(corpus.training[start + position + 1]))
            }
        }
        #expect(corpus.vocabulary.decode(inputs[0..<5].map { Int($0) }) == "ROMEO")
    }
}
