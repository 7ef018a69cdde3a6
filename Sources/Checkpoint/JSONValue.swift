import Foundation
import Support

/// A JSON value as a Swift enum: the manifest's free-form parts (the resolved configuration, the
/// ownership map) travel between modules and threads as this.
///
/// Numbers JSON cannot hold are written as spectrain writes them everywhere (`NonFiniteJSON`):
/// `.number(.nan)` becomes the string "nan", infinities "inf" and "-inf". Read back they are those
/// strings; `decoded(as:)` turns them into Doubles again.
package enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if let text = Self.nonFiniteText(value) {
                try container.encode(text)
            } else if let integer = Int64(exactly: value) {
                try container.encode(integer)
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let items): try container.encode(items)
        case .object(let members): try container.encode(members)
        }
    }

    /// Parses JSON text strictly (see `JSONParser`); a problem is a `JSONSyntaxError` with its
    /// byte offset.
    package init(parsing data: Data) throws {
        self = try JSONParser.parse([UInt8](data))
    }

    /// The value of an `Encodable` (a configuration) as JSON; non-finite Doubles become "nan",
    /// "inf" and "-inf".
    package init<Value: Encodable>(encoding value: Value) throws {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = NonFiniteJSON.encoding
        self = try JSONParser.parse([UInt8](try encoder.encode(value)))
    }

    /// Decodes a `Decodable` from this value, reading "nan", "inf" and "-inf" where a Double is
    /// expected.
    package func decoded<Value: Decodable>(as type: Value.Type) throws -> Value {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = NonFiniteJSON.decoding
        return try decoder.decode(type, from: encoded())
    }

    /// Pretty JSON text with sorted keys. Cannot fail: every value has a JSON spelling.
    package func encoded() -> Data {
        var text = ""
        write(to: &text, indent: "")
        text += "\n"
        return Data(text.utf8)
    }

    /// JSON text on one line with sorted keys (a safetensors header).
    func compactText() -> String {
        var text = ""
        write(to: &text, indent: nil)
        return text
    }

    /// Appends the JSON spelling; `indent` is the current line's indentation when pretty
    /// printing, nil for compact text.
    private func write(to text: inout String, indent: String?) {
        switch self {
        case .null: text += "null"
        case .bool(let value): text += value ? "true" : "false"
        case .number(let value):
            if let spelled = Self.nonFiniteText(value) {
                Self.writeString(spelled, to: &text)
            } else if let integer = Int64(exactly: value) {
                text += String(integer)
            } else {
                text += "\(value)"
            }
        case .string(let value): Self.writeString(value, to: &text)
        case .array(let items):
            guard !items.isEmpty else { text += "[]"; return }
            let inner = indent.map { $0 + "  " }
            text += inner == nil ? "[" : "[\n"
            for (index, item) in items.enumerated() {
                text += inner ?? ""
                item.write(to: &text, indent: inner)
                if index < items.count - 1 { text += "," }
                if inner != nil { text += "\n" }
            }
            text += (indent ?? "") + "]"
        case .object(let members):
            guard !members.isEmpty else { text += "{}"; return }
            let inner = indent.map { $0 + "  " }
            text += inner == nil ? "{" : "{\n"
            for (index, key) in members.keys.sorted().enumerated() {
                text += inner ?? ""
                Self.writeString(key, to: &text)
                text += inner == nil ? ":" : " : "
                members[key, default: .null].write(to: &text, indent: inner)
                if index < members.count - 1 { text += "," }
                if inner != nil { text += "\n" }
            }
            text += (indent ?? "") + "}"
        }
    }

    private static func nonFiniteText(_ value: Double) -> String? {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return nil
    }

    private static func writeString(_ value: String, to text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            default:
                if scalar.value < 0x20 {
                    text += "\\u00" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }

    package subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    package var number: Double? { if case .number(let value) = self { return value }; return nil }
    package var string: String? { if case .string(let value) = self { return value }; return nil }
    package var integer: Int? { number.flatMap { Int(exactly: $0) } }
}
