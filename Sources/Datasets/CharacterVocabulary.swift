/// The characters of a text corpus, one token each: the vocabulary a character-level language
/// model reads and writes. Saved with a run and its checkpoints, so that `sample` and `eval`
/// decode exactly as training encoded.
///
/// A character here is one Unicode scalar (as Python's `str` counts them), ordered by scalar
/// value, so the same text always gives the same tokens.
package struct CharacterVocabulary: Codable, Sendable, Equatable {
    /// The characters, token 0 first.
    package let characters: [Unicode.Scalar]
    private let tokenOf: [Unicode.Scalar: UInt16]

    /// The most distinct characters a vocabulary holds (tokens are `UInt16`).
    package static let maximumSize = 1 << 16

    /// The vocabulary of every character in `text`.
    package init<Scalars: Sequence>(of scalars: Scalars) where Scalars.Element == Unicode.Scalar {
        self.init(sorted: Set(scalars).sorted { $0.value < $1.value })
    }

    private init(sorted characters: [Unicode.Scalar]) {
        precondition(characters.count <= Self.maximumSize, "CharacterVocabulary: \(characters.count) characters")
        self.characters = characters
        tokenOf = Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($0.element, UInt16($0.offset)) })
    }

    package var count: Int { characters.count }

    /// The token of `character`, or nil when it is not in the vocabulary.
    package func token(of character: Unicode.Scalar) -> UInt16? { tokenOf[character] }

    /// The text of `tokens`; a token outside the vocabulary reads as U+FFFD.
    package func decode<Tokens: Sequence>(_ tokens: Tokens) -> String where Tokens.Element: BinaryInteger {
        var text = String.UnicodeScalarView()
        for token in tokens {
            text.append(Int(exactly: token).flatMap { characters.indices.contains($0) ? characters[$0] : nil } ?? "\u{FFFD}")
        }
        return String(text)
    }

    enum CodingKeys: String, CodingKey { case characters }

    /// Stored as a JSON array of one-character strings.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(characters.map { String($0) }, forKey: .characters)
    }

    /// Read back from a run or checkpoint: exactly one character per entry, each once, in order.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let entries = try container.decode([String].self, forKey: .characters)
        var characters: [Unicode.Scalar] = []
        for (index, entry) in entries.enumerated() {
            let scalars = Array(entry.unicodeScalars)
            guard scalars.count == 1 else {
                throw DecodingError.dataCorruptedError(forKey: .characters, in: container, debugDescription: "entry \(index) is not one character")
            }
            guard characters.last.map({ $0.value < scalars[0].value }) ?? true else {
                throw DecodingError.dataCorruptedError(
                    forKey: .characters, in: container, debugDescription: "entry \(index) is out of order or repeated (characters are sorted by code point)")
            }
            characters.append(scalars[0])
        }
        guard !characters.isEmpty, characters.count <= Self.maximumSize else {
            throw DecodingError.dataCorruptedError(
                forKey: .characters, in: container, debugDescription: "needs 1...\(Self.maximumSize) characters, has \(characters.count)")
        }
        self.init(sorted: characters)
    }
}
