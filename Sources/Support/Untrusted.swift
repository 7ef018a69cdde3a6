/// Text from a file put into an error message: short, on one line and, when quoted, visibly
/// delimited, so a damaged or hostile file cannot flood the terminal or forge extra lines of output.
package enum Untrusted {
    /// The longest excerpt `quote` shows, in characters; longer text is cut and marked with "...".
    package static let excerptLength = 64

    /// `text` in single quotes, control and invisible line-breaking characters escaped (and the
    /// quote and backslash, so the end of the excerpt is unambiguous), at most `excerptLength`
    /// characters of it.
    package static func quote(_ text: String) -> String {
        "'" + escaped(text, limit: excerptLength, escapingDelimiters: true) + "'"
    }

    /// `text` (a message that may hold text from a file) on one line of at most `limit`
    /// characters, control characters escaped as in `quote`.
    package static func oneLine(_ text: String, limit: Int = 160) -> String {
        escaped(text, limit: limit, escapingDelimiters: false)
    }

    /// `text` with its control and line-breaking characters escaped as in `oneLine`, at any
    /// length: for a message that must stay one line but must not be cut (a config error listing
    /// the allowed fields).
    package static func controlCharactersEscaped(_ text: String) -> String {
        escaped(text, limit: .max, escapingDelimiters: false)
    }

    /// An array of integers from a file (a tensor's shape), cut after a few entries.
    package static func list(_ values: [Int]) -> String {
        let shown = values.prefix(8).map(String.init).joined(separator: ", ")
        return "[" + shown + (values.count > 8 ? ", ... (\(values.count) entries)]" : "]")
    }

    private static func escaped(_ text: String, limit: Int, escapingDelimiters: Bool) -> String {
        var result = ""
        var shown = 0
        for scalar in text.unicodeScalars {
            guard shown < limit else {
                result += "..."
                break
            }
            shown += 1
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "'" where escapingDelimiters: result += "\\'"
            case "\\" where escapingDelimiters: result += "\\\\"
            default:
                if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) || scalar.properties.generalCategory == .lineSeparator
                    || scalar.properties.generalCategory == .paragraphSeparator || scalar.properties.isBidiControl {
                    result += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}
