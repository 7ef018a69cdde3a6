import Foundation

/// Every field of a configuration kind, one line each, generated from the field tables
/// (`ConfigRecord.fields`): its dotted JSON path, its default (`ReferenceDefaults`), the JSON it
/// takes and its rules, so the reference cannot drift from what decoding accepts.
///
/// A nested record's fields follow its path (`optimizer.preconditioner.mode`); a tagged object
/// (`TaggedConfig`) lists its "type" and then each type's fields
/// (`optimizer.schedule (type=warmupCosine).warmupSteps`); a list's elements are `[]`
/// (`model.layers[] (type=linear).outputs`). A check between fields shows its summary at the
/// field it reports at, or on a line of its own with the record's path.
package enum ConfigReference {
    /// The listing of `type`'s fields, aligned in two columns under a header line.
    package static func lines(_ type: any ConfigRecord.Type) -> [String] {
        TextTable.render([["field", "default; type; rules"]] + rows(type, prefix: "", base: nil))
    }

    /// The rows of a record's fields, paths starting with `prefix` ("" or ending in "." or "]"),
    /// defaults from `base` (a value of `Record`, or one that encodes to it) or else the record's
    /// own defaults.
    private static func rows<Record: ConfigRecord>(_: Record.Type, prefix: String, base: Any?) -> [[String]] {
        let defaults = base.flatMap { converted($0, to: Record.self) } ?? Record.referenceDefaults()
        let dependent = Record.dependentDefaults()
        var checksAtField: [String: [String]] = [:]
        var checksAtObject: [String] = []
        for check in Record.fields where check.name == nil {
            let summaries = check.summaries.isEmpty ? ["checked with other fields"] : check.summaries
            if let name = check.reportedAt.flatMap(Record.fieldName) {
                checksAtField[name, default: []] += summaries
            } else {
                checksAtObject += summaries
            }
        }
        var rows: [[String]] = []
        for field in Record.fields {
            guard let name = field.name, let keyPath = field.keyPath, let type = field.valueType() else { continue }
            let value = defaults.map { $0[keyPath: keyPath] }
            let defaultText = field.isRequired ? "required"
                : "default " + (dependent[name] ?? value.map(ReferenceDefaults.json) ?? "unknown")
            let childBase = field.isRequired || dependent[name] != nil ? nil : value
            rows += self.rows(
                path: prefix + name, form: ValueForm(type), defaultText: defaultText,
                rules: field.summaries + (checksAtField[name] ?? []), base: childBase, isRequired: field.isRequired)
        }
        let objectPath = prefix.hasSuffix(".") ? String(prefix.dropLast()) : prefix.isEmpty ? "(top level)" : prefix
        rows += checksAtObject.map { [objectPath, "check: " + $0] }
        return rows
    }

    /// The rows of one field: its own line, and the lines of the fields inside it.
    private static func rows(path: String, form: ValueForm, defaultText: String, rules: [String], base: Any?, isRequired: Bool) -> [[String]] {
        func line(_ words: String) -> [String] {
            [path, ([defaultText, words] + rules).filter { !$0.isEmpty }.joined(separator: "; ")]
        }
        switch form {
        case .leaf(let words):
            return [line(words)]
        case .record(let record, let converted):
            // A record with a default shows it field by field; a required or absent one (or a
            // value written as an object) gets a line of its own as well.
            let own = isRequired || converted || base.map(ReferenceDefaults.json) == "null" ? [line("object (fields below)")] : []
            let unwrapped = base.map(ReferenceDefaults.json) == "null" ? nil : base
            return own + rows(record, prefix: path + ".", base: unwrapped)
        case .tagged(let choices):
            return [line(#"object with a "type" (below)"#)] + choiceRows(path: path, choices)
        case .list(let element):
            switch element {
            case .leaf(let words):
                return [line("list, each " + words)]
            case .record(let record, _):
                return [line("list of objects (fields below)")] + rows(record, prefix: path + "[].", base: nil)
            case .tagged(let choices):
                return [line(#"list of objects, each with a "type" (below)"#)] + choiceRows(path: path + "[]", choices)
            case .list:
                return [line("list of lists")]
            }
        }
    }

    /// The "type" of a tagged object and each type's fields.
    private static func choiceRows(path: String, _ choices: [TaggedChoice]) -> [[String]] {
        var rows = [[path + ".type", "required; one of " + choices.map(\.type).joined(separator: ", ")]]
        for choice in choices {
            let choicePath = "\(path) (type=\(choice.type))"
            if let fields = choice.fields {
                rows += choice.note.map { [[choicePath, $0]] } ?? []
                rows += self.rows(fields, prefix: choicePath + ".", base: nil)
            } else {
                rows.append([choicePath, "no other fields" + (choice.note.map { "; \($0)" } ?? "")])
            }
        }
        return rows
    }

    /// `value` as a `Record`: itself, or decoded from its JSON (a value the record converts to).
    private static func converted<Record: ConfigRecord>(_ value: Any, to _: Record.Type) -> Record? {
        if let record = value as? Record { return record }
        guard let encodable = value as? any Encodable, let data = try? JSONEncoder().encode(encodable) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: data)
    }
}

/// What JSON a field's type takes, as `ConfigReference` lists it.
private indirect enum ValueForm {
    /// A single value, in words ("integer", "one of sgd, adamw").
    case leaf(String)
    /// An object of a record's fields; `converted` when the field's type is not the record itself.
    case record(any ConfigRecord.Type, converted: Bool)
    case tagged([TaggedChoice])
    case list(ValueForm)

    init(_ type: Any.Type) {
        if let record = type as? any ConfigRecord.Type {
            self = .record(record, converted: false)
        } else if let choice = type as? any NamedChoice.Type {
            self = .leaf("one of " + ReferenceDefaults.spellings(choice).map(\.name).joined(separator: ", "))
        } else if let described = type as? any ConfigValueDescribing.Type {
            switch described.configShape {
            case .value(let words): self = .leaf(words)
            case .record(let record): self = .record(record, converted: true)
            case .tagged(let choices): self = .tagged(choices)
            }
        } else if let list = type as? any ConfigList.Type {
            self = .list(ValueForm(list.elementType))
        } else {
            self = .leaf(Self.jsonTypeName(type))
        }
    }

    /// The JSON type of a standard value type, "" for another.
    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is any BinaryInteger.Type: "integer"
        case is any BinaryFloatingPoint.Type: "number"
        case is String.Type: "string"
        case is Bool.Type: "true or false"
        default: ""
        }
    }
}

/// An array, for `ValueForm` to see its element type.
private protocol ConfigList {
    static var elementType: Any.Type { get }
}

extension Array: ConfigList {
    fileprivate static var elementType: Any.Type { Element.self }
}
