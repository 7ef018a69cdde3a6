import Foundation

/// Loading a JSON configuration file with `key.path=value` overrides, turning every problem into
/// one line that names the file and the field.
public enum ConfigurationFile {
    /// Reads `path`, applies `overrides` (each `a.b.c=value`, the value JSON if it parses as JSON,
    /// else a string), and decodes `T`.
    public static func load<T: Decodable>(_: T.Type, from path: String, overrides: [String] = []) throws(ConfigurationError) -> T {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(path, "cannot read the file (\(Self.reason(error)))")
        }
        return try decode(T.self, from: data, path: path, overrides: overrides)
    }

    /// Decodes `T` from JSON text (as `load`, for configurations not stored in a file).
    public static func decode<T: Decodable>(_: T.Type, from data: Data, path: String, overrides: [String] = []) throws(ConfigurationError) -> T {
        var document: Any
        do {
            document = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ConfigurationError(path, "not valid JSON (\(Self.reason(error)))")
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
            throw ConfigurationError(path, Self.reason(error))
        }
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

    /// One line for a decoding error, naming the field by its dotted path.
    public static func describe(_ error: DecodingError) -> String {
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

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError {
            return underlying.localizedDescription
        }
        return nsError.localizedDescription
    }
}

/// A configuration file that cannot be used, named with its problem (see `FileError`).
public typealias ConfigurationError = FileError
