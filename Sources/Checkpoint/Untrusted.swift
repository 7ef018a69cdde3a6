/// Text from a file quoted into an error message: short, on one line and visibly delimited, so a
/// damaged or hostile file cannot flood the terminal or forge extra lines of output.
enum Untrusted {
    /// The longest excerpt shown, in characters; longer text is cut and marked with "...".
    static let excerptLength = 64

    /// `text` in single quotes, control and non-ASCII-printable characters escaped, at most
    /// `excerptLength` characters of it.
    static func quote(_ text: String) -> String {
        var quoted = "'"
        var shown = 0
        for scalar in text.unicodeScalars {
            guard shown < excerptLength else {
                quoted += "..."
                break
            }
            shown += 1
            switch scalar {
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            case "'": quoted += "\\'"
            case "\\": quoted += "\\\\"
            default:
                if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) || scalar.properties.generalCategory == .lineSeparator
                    || scalar.properties.generalCategory == .paragraphSeparator || scalar.properties.isBidiControl {
                    quoted += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "'"
    }

    /// An array of integers from a file (a tensor's shape), cut after a few entries.
    static func list(_ values: [Int]) -> String {
        let shown = values.prefix(8).map(String.init).joined(separator: ", ")
        return "[" + shown + (values.count > 8 ? ", ... (\(values.count) entries)]" : "]")
    }
}
