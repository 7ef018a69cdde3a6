import ArgumentParser
import Foundation
import Support
import Train

/// The kinds of configuration file, by the command that runs them.
enum ConfigKind: String, CaseIterable {
    case train
    case es
    case spd

    /// The type a file of this kind decodes as.
    var recordType: any ConfigRecord.Type {
        switch self {
        case .train: TrainConfig.self
        case .es: ESConfiguration.self
        case .spd: SPDConfiguration.self
        }
    }

    /// The kind named `text`, or a one-line error listing the kinds.
    init(named text: String) throws {
        guard let kind = ConfigKind(rawValue: text) else {
            throw ValidationError("--fields: \(Untrusted.quote(text)) is not a config kind (\(Self.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self = kind
    }

    /// The kind of the configuration `data` holds and a few words about it ("spectrain train,
    /// run name fashion-mlp, optimizer spectral"), by decoding it as each kind in turn; nil when
    /// it decodes as none.
    static func describe(_ data: Data, path: String) -> (kind: ConfigKind, summary: String)? {
        if let config = try? ConfigurationFile.decode(TrainConfig.self, from: data, path: path) {
            let model = config.model.transformer.map { "transformer of \($0.blocks) blocks" } ?? "\(config.model.layers.count) layers"
            return (.train, "run name \(config.name), optimizer \(config.optimizer.type.rawValue), \(model)")
        }
        if let config = try? ConfigurationFile.decode(ESConfiguration.self, from: data, path: path) {
            return (.es, "objective \(config.objective.type.name) (dimension \(config.objective.dimension)), methods \(config.methods.map(\.rawValue).joined(separator: ", "))")
        }
        if let config = try? ConfigurationFile.decode(SPDConfiguration.self, from: data, path: path) {
            return (.spd, "problem \(config.problem.rawValue) (dimension \(config.dimension))")
        }
        return nil
    }

    /// docs/config-reference.md: every kind's fields (`ConfigReference`) under a short header.
    static func referenceDocument() -> String {
        var lines = [
            "# Configuration reference",
            "",
            "Every field of the three kinds of configuration file, generated from the field tables that",
            "decoding uses: `spectrain config --reference > docs/config-reference.md` writes this file, and a",
            "test fails when it differs from what the command prints. `spectrain config --fields KIND` prints",
            "one kind's table; `spectrain config` lists the shipped configs and `spectrain config NAME >",
            "mine.json` copies one to start from.",
            "",
            "A path is the field's place in the JSON (`optimizer.preconditioner.mode`); `[]` is an element of a",
            "list and `(type=X)` the fields of an object whose \"type\" is X. A default that depends on another",
            "field is given for each of that field's values; a default of null means unset, and some unset",
            "fields are worked out at run time (`data.mean` from the training set, `search.populationSize`",
            "from the dimension). A check between fields is listed at the field it reports at, or with `check:`",
            "at its object.",
        ]
        for kind in allCases {
            lines += ["", "## \(kind.rawValue): `spectrain \(kind.rawValue) CONFIG`", "", "```"]
            lines += ConfigReference.lines(kind.recordType)
            lines.append("```")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
