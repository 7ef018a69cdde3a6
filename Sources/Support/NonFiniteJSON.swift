import Foundation

/// How spectrain writes numbers JSON cannot hold: a singular factor's condition number is
/// infinite and a diverged loss is NaN, so they become the strings "inf", "-inf" and "nan"
/// (metrics lines, summaries, manifests, command outputs), and are read back the same way.
public enum NonFiniteJSON {
    public static let encoding = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    public static let decoding = JSONDecoder.NonConformingFloatDecodingStrategy.convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// An encoder for everything spectrain writes as JSON: it cannot fail on a non-finite number.
    public static func encoder(_ formatting: JSONEncoder.OutputFormatting = []) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        encoder.nonConformingFloatEncodingStrategy = encoding
        return encoder
    }

    /// A decoder that reads what `encoder` wrote.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = decoding
        return decoder
    }
}
