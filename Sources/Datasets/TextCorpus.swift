import Support

/// A UTF-8 text file as tokens for a character-level language model: the vocabulary of its
/// characters, the first 90% for training and the last 10% for validation (a fixed split, so
/// every run and every rank sees the same), and the context windows a model is trained on.
package struct TextCorpus: Sendable {
    package let vocabulary: CharacterVocabulary
    /// Tokens of the training part.
    package let training: [UInt16]
    /// Tokens of the validation part.
    package let validation: [UInt16]

    /// The share of the text, at its end, held out for validation.
    package static let validationFraction = 0.1
    /// The largest text file read (its tokens take twice its size in memory).
    package static let maximumFileBytes = 1 << 30

    /// Reads `path` for windows of `context` tokens. Every problem is one line naming the file:
    /// missing, not a regular file, empty, not UTF-8 (with the byte offset), or too short for one
    /// window of `context + 1` characters in each part.
    package static func load(path: String, context: Int) throws(DataError) -> TextCorpus {
        let bytes = try RegularFile.read(path, limit: maximumFileBytes) { size in
            "is \(size) bytes, more than the \(maximumFileBytes) a text corpus may hold"
        }
        return try TextCorpus(utf8: bytes, context: context, path: path)
    }

    /// The corpus of UTF-8 `bytes` (named `path` in messages).
    package init(utf8 bytes: [UInt8], context: Int, path: String) throws(DataError) {
        guard context >= 1 else { throw DataError(path, "context must be at least 1 character, got \(context)") }
        guard !bytes.isEmpty else { throw DataError(path, "is empty; a text corpus needs text") }
        let scalars = try Self.decodeUTF8(bytes, path: path)
        let vocabulary = CharacterVocabulary(of: scalars)
        guard vocabulary.count <= CharacterVocabulary.maximumSize else {
            throw DataError(path, "has \(vocabulary.count) distinct characters, more than the \(CharacterVocabulary.maximumSize) a vocabulary holds")
        }
        let tokens = scalars.map { vocabulary.token(of: $0)! }
        let validationCount = Int(Double(tokens.count) * Self.validationFraction)
        let window = context + 1
        guard tokens.count - validationCount >= window, validationCount >= window else {
            throw DataError(path, "holds \(tokens.count) characters; with \(Int(Self.validationFraction * 100))% held out for validation, each part needs at least one window of \(window) (context \(context) + 1)")
        }
        self.vocabulary = vocabulary
        training = Array(tokens[..<(tokens.count - validationCount)])
        validation = Array(tokens[(tokens.count - validationCount)...])
    }

    /// The windows of `context + 1` tokens a part offers: one starting at every position.
    package static func windowCount(tokens: Int, context: Int) -> Int { max(tokens - context, 0) }

    /// The starts of `count` validation windows of `context + 1` tokens, evenly spaced over the
    /// non-overlapping windows the validation part holds (all of them when `count` is 0 or
    /// larger), in increasing order: the same windows for every run and rank.
    package func validationStarts(count: Int, context: Int) -> [Int] {
        let available = max((validation.count - 1) / context, 0)
        let chosen = count == 0 ? available : min(count, available)
        return (0..<chosen).map { index in (index * available / chosen) * context }
    }

    /// Writes the windows of `part` starting at `starts`: window b's `context` tokens as
    /// scalars into `inputs[b * context ..< (b + 1) * context]` and the token that follows each
    /// into `targets` at the same place (the model predicts each next character).
    package static func fillWindows<Scalar: BinaryFloatingPoint>(
        of part: [UInt16], starts: [Int], context: Int, inputs: inout [Scalar], targets: inout [Int32]
    ) {
        precondition(inputs.count >= starts.count * context && targets.count >= starts.count * context,
                     "TextCorpus.fillWindows: buffers too small for \(starts.count) windows of \(context)")
        part.withUnsafeBufferPointer { tokens in
            for (window, start) in starts.enumerated() {
                precondition(start >= 0 && start + context < tokens.count, "TextCorpus.fillWindows: window at \(start) outside \(tokens.count) tokens")
                let offset = window * context
                for position in 0..<context {
                    inputs[offset + position] = Scalar(tokens[start + position])
                    targets[offset + position] = Int32(tokens[start + position + 1])
                }
            }
        }
    }

    /// The Unicode scalars of `bytes`, or an error at the first byte that is not UTF-8.
    static func decodeUTF8(_ bytes: [UInt8], path: String) throws(DataError) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(bytes.count)
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                scalars.append(scalar)
                offset += UTF8.width(scalar)
            case .emptyInput:
                return scalars
            case .error:
                let byte = bytes[min(offset, bytes.count - 1)]
                throw DataError(path, "is not UTF-8 text: byte \(offset) (0x\(String(byte, radix: 16, uppercase: true))) does not start a valid character")
            }
        }
    }
}
