import Foundation

/// How spectrain writes numbers JSON cannot hold: a singular factor's condition number is
/// infinite and a diverged loss is NaN, so they become the strings "inf", "-inf" and "nan"
/// (metrics lines, command outputs), and are read back the same way.
public enum NonFiniteJSON {
    public static let encoding = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    public static let decoding = JSONDecoder.NonConformingFloatDecodingStrategy.convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
}
