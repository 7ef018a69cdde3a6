import ArgumentParser
import Foundation
import Support

/// `spectrain config [NAME]`: the shipped configs, one of them verbatim to start from, or every
/// field a configuration kind has. Local only: no MPI, no BLAS.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "List the shipped configs, print one to start from, or list every config field.",
        discussion: """
              spectrain config                    the shipped configs
              spectrain config fashion-mlp > mine.json
              spectrain config --fields es        every field of an es config
              spectrain config --reference        docs/config-reference.md

            The shipped configs are looked for in $\(ShippedConfigs.environmentVariable), then in the \
            repository above the executable, then in \
            <executable's folder>/../share/spectrain/configs.
            """)

    @Argument(
        help: ArgumentHelp("A shipped config (with or without .json); with --fields, the kind: train (default), es or spd.", valueName: "name"),
        completion: .custom { _, _, prefix in ((try? ShippedConfigs.locate().names()) ?? []).filter { $0.hasPrefix(prefix) } })
    var name: String?

    @Flag(help: "List every field of a config kind with its default and rules.")
    var fields = false

    @Flag(help: "Print the Markdown reference of every config kind (docs/config-reference.md).")
    var reference = false

    func validate() throws {
        if fields && reference { throw ValidationError("--fields prints one kind and --reference all of them: give one of them") }
        if reference, let name { throw ValidationError("--reference takes no name, got \(Untrusted.quote(name))") }
    }

    func run() throws {
        if reference {
            write(ConfigKind.referenceDocument())
        } else if fields {
            let kind = try name.map(ConfigKind.init(named:)) ?? .train
            write(ConfigReference.lines(kind.recordType).joined(separator: "\n") + "\n")
        } else if let name {
            FileHandle.standardOutput.write(Data(try ShippedConfigs.locate().contents(of: name)))
        } else {
            try list()
        }
    }

    /// One line per shipped config: its name, the command that runs it and a few words about it.
    private func list() throws {
        let shipped = try ShippedConfigs.locate()
        var rows: [[String]] = []
        for name in try shipped.names() {
            let path = shipped.path(of: name + ".json")
            let description: String
            do {
                let data = Data(try RegularFile.read(path, limit: ConfigurationFile.maximumFileBytes))
                description = ConfigKind.describe(data, path: path).map { "spectrain \($0.kind.rawValue), \($0.summary)" }
                    ?? "decodes as none of \(ConfigKind.allCases.map(\.rawValue).joined(separator: ", "))"
            } catch {
                description = "cannot be read: \(error)"
            }
            rows.append([name, description])
        }
        write("shipped configs in \(shipped.folder) (spectrain config NAME prints one):\n")
        write(TextTable.render(rows).map { "  " + $0 }.joined(separator: "\n") + "\n")
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
