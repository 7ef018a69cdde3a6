import Foundation

/// Loading a JSON configuration file with `key.path=value` overrides, turning every problem into
/// one line that names the file and the field.
package enum ConfigurationFile {
    /// Reads `path`, applies `overrides` (each `a.b.c=value`, the value JSON if it parses as JSON,
    /// else a string), and decodes `T`.
    package static func load<T: Decodable>(_: T.Type, from path: String, overrides: [String] = []) throws(ConfigurationError) -> T {
        try decode(T.self, from: readFile(path), path: path, overrides: overrides)
    }

    /// Decodes `T` from JSON text (as `load`, for configurations not stored in a file).
    package static func decode<T: Decodable>(_: T.Type, from data: Data, path: String, overrides: [String] = []) throws(ConfigurationError) -> T {
        if let depth = nestingBeyondLimit(data) {
            throw ConfigurationError(path, "not valid JSON (nested deeper than \(maximumNesting) levels at byte \(depth))")
        }
        var document: Any
        do {
            document = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ConfigurationError(path, "not valid JSON" + (Self.parserDetail(error).map { " (\($0))" } ?? ""))
        }
        guard document is [String: Any] else { throw ConfigurationError(path, "the top level must be a JSON object") }
        for override in overrides {
            document = try apply(override, to: document, path: path)
        }
        do {
            let merged = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
            return try JSONDecoder().decode(T.self, from: merged)
        } catch let error as DecodingError {
            throw ConfigurationError(path, describe(error))
        } catch {
            throw ConfigurationError(path, "cannot be decoded" + (Self.parserDetail(error).map { " (\($0))" } ?? ""))
        }
    }

    /// The deepest nesting of arrays and objects a configuration may have; deeper text is
    /// rejected before it reaches the recursive parser.
    package static let maximumNesting = 64

    /// The offset of the first bracket that nests deeper than `maximumNesting`, nil if none does.
    static func nestingBeyondLimit(_ data: Data) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        for (offset, byte) in data.enumerated() {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > maximumNesting { return offset }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return nil
    }

    /// Configuration files larger than this are rejected unread.
    package static let maximumFileBytes = 16 << 20

    /// The bytes of the regular file at `path`, read through `RegularFile` (never blocking, no
    /// more than `maximumFileBytes`).
    static func readFile(_ path: String) throws(ConfigurationError) -> Data {
        let limit = maximumFileBytes
        return Data(try RegularFile.read(path, limit: limit) { "is \($0) bytes, more than a configuration may be (\(limit))" })
    }

    /// The parser's own one-line account of where the text went wrong ("Unexpected end of file
    /// during JSON parse."), without the error's domain and code; nil when it has none.
    private static func parserDetail(_ error: any Error) -> String? {
        let nsError = error as NSError
        let detail = (nsError.userInfo[NSDebugDescriptionErrorKey] as? String)
            ?? ((nsError.userInfo[NSUnderlyingErrorKey] as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String)
        guard let detail else { return nil }
        let line = detail.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.isEmpty ? nil : String(line.prefix(200))
    }

    /// Sets one `a.b.c=value` override in a JSON object tree.
    static func apply(_ override: String, to document: Any, path: String) throws(ConfigurationError) -> Any {
        guard let equals = override.firstIndex(of: "=") else {
            throw ConfigurationError(path, "override '\(override)' is not key=value")
        }
        let keys = override[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keys.isEmpty, keys.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigurationError(path, "override '\(override)' has an empty key")
        }
        let text = String(override[override.index(after: equals)...])
        if nestingBeyondLimit(Data(text.utf8)) != nil {
            throw ConfigurationError(path, "override '\(override.prefix(80))': nested deeper than \(maximumNesting) levels")
        }
        let value: Any = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
        func set(_ node: Any, _ remaining: ArraySlice<String>, _ walked: [String]) throws(ConfigurationError) -> Any {
            guard var object = node as? [String: Any] else {
                throw ConfigurationError(path, "override '\(override)': '\(walked.joined(separator: "."))' is not an object")
            }
            let key = remaining.first!
            if remaining.count == 1 {
                object[key] = value
            } else {
                object[key] = try set(object[key] ?? [String: Any](), remaining.dropFirst(), walked + [key])
            }
            return object
        }
        return try set(document, keys[...], [])
    }

    /// One line for a decoding error, naming the field by its dotted path; control characters
    /// from the file (a field name with a newline, say) are shown escaped
    /// (`Untrusted.controlCharactersEscaped`).
    package static func describe(_ error: DecodingError) -> String {
        Untrusted.controlCharactersEscaped(describeLines(error))
    }

    private static func describeLines(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(field(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context):
            return "field '\(field(context.codingPath))': expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "field '\(field(context.codingPath))': expected \(typeName(type)), found null"
        case .dataCorrupted(let context):
            let location = context.codingPath.isEmpty ? "" : "field '\(field(context.codingPath))': "
            // The decoder's words for a number its type cannot hold, which is not a syntax error.
            if context.debugDescription == "The given data was not valid JSON." {
                return location + "holds a value its field cannot take (a number out of range?)"
            }
            return location + context.debugDescription
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Float.Type: return "a number"
        case is Int.Type, is UInt64.Type, is Int64.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }
}

/// A configuration file that cannot be used, named with its problem (see `FileError`).
package typealias ConfigurationError = FileError
