import Foundation

/// How spectrain writes numbers JSON cannot hold: a singular factor's condition number is
/// infinite and a diverged loss is NaN, so they become the strings "inf", "-inf" and "nan"
/// (metrics lines, summaries, manifests, command outputs), and are read back the same way.
package enum NonFiniteJSON {
    package static let encoding = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    package static let decoding = JSONDecoder.NonConformingFloatDecodingStrategy.convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// An encoder for everything spectrain writes as JSON: it cannot fail on a non-finite number.
    package static func encoder(_ formatting: JSONEncoder.OutputFormatting = []) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        encoder.nonConformingFloatEncodingStrategy = encoding
        return encoder
    }

    /// A decoder that reads what `encoder` wrote.
    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = decoding
        return decoder
    }
}
