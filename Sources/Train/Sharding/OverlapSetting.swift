import Support

/// Whether gradient and parameter transfers overlap computation (`distributed.overlap`): `true`,
/// `false`, or `"auto"` (the default), on exactly when some transfer has computation to hide
/// behind.
///
/// A bucket's reduction can run while backward computes the layers before its earliest one, and
/// its gather while forward computes those layers. When every bucket holds parameters of the
/// first trained layer (a small model in one bucket, or a first layer that holds most of it: the
/// shipped MLPs), nothing is left to hide behind but loading the next batch, and the non-blocking
/// path's own costs (the progress thread, transfers running on the cores that compute) exceed
/// that: on 2 ranks of one machine overlap made the SGD MLP's step 17% and the AdamW MLP's 6%
/// longer, while the CNN, whose buckets start in backward, gained 3% (docs/distributed.md).
package enum OverlapSetting: Sendable, Hashable, Codable, CustomStringConvertible, ConfigValueDescribing {
    case on
    case off
    case auto

    /// Whether a job of `ranks` ranks overlaps, when `hidable` of its `buckets` gradient buckets
    /// can travel while other layers compute: never on one rank.
    package func isOn(ranks: Int, hidable: Int) -> Bool {
        guard ranks > 1 else { return false }
        switch self {
        case .on: return true
        case .off: return false
        case .auto: return hidable > 0
        }
    }

    /// What `auto` became and why, for the start of the log; nil for another setting or one rank.
    package func choice(ranks: Int, hidable: Int, buckets: Int) -> String? {
        guard self == .auto, ranks > 1 else { return nil }
        return hidable > 0
            ? "distributed.overlap auto -> true (\(hidable) of \(buckets) gradient buckets can travel while other layers compute)"
            : "distributed.overlap auto -> false (every gradient bucket holds first-layer parameters: no computation to hide its transfers behind)"
    }

    /// `true`, `false` or `"auto"`.
    package var description: String {
        switch self {
        case .on: "true"
        case .off: "false"
        case .auto: "auto"
        }
    }

    /// The values the field takes.
    static let spellings = #"true, false or "auto""#

    package static var configShape: ConfigValueShape { .value(spellings) }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) {
            self = flag ? .on : .off
        } else if let text = try? container.decode(String.self), text == "auto" {
            self = .auto
        } else {
            let got = (try? container.decode(String.self)).map { "\"\($0.prefix(80))\"" } ?? "a value of another type"
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be \(Self.spellings), got \(got)"))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .on: try container.encode(true)
        case .off: try container.encode(false)
        case .auto: try container.encode("auto")
        }
    }
}
