import Foundation
import Testing

/// `spectrain config` as a user runs it: the shipped configs listed and printed verbatim, the
/// field reference that docs/config-reference.md must equal, one-line errors for names that are
/// not shipped configs, where the configs are found, and shell completion.
@Suite("spectrain config")
struct ConfigCommandTests {
    static var root: URL { CommandTests.root }

    /// The shipped configs' names, from the repository's configs/ folder.
    static var shippedNames: [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("configs").path)) ?? []
        return entries.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    @Test("docs/config-reference.md is what `spectrain config --reference` prints now")
    func referenceDocumentIsCurrent() throws {
        let result = try ProcessRunner.run(["config", "--reference"], timeout: 60)
        #expect(result.status == 0, "\(result.allOutput)")
        let committed = try String(contentsOf: Self.root.appendingPathComponent("docs/config-reference.md"), encoding: .utf8)
        #expect(result.output == committed, "regenerate it: spectrain config --reference > docs/config-reference.md")
    }

    @Test("--fields KIND prints the table the reference holds for that kind; --fields alone is train",
          arguments: [["train"], ["es"], ["spd"], []])
    func fieldsMatchReference(_ kind: [String]) throws {
        let fields = try ProcessRunner.run(["config", "--fields"] + kind, timeout: 60)
        #expect(fields.status == 0, "\(fields.allOutput)")
        let reference = try ProcessRunner.run(["config", "--reference"], timeout: 60).output
        let heading = "## \(kind.first ?? "train"): `spectrain \(kind.first ?? "train") CONFIG`\n\n```\n"
        #expect(reference.contains(heading + fields.output + "```\n"), "\(fields.output)")
        #expect(fields.output.hasPrefix("field "))
    }

    @Test("every shipped config prints byte for byte as its file, named with or without .json")
    func shippedConfigPrintsVerbatim() throws {
        #expect(Self.shippedNames.count >= 10, "\(Self.shippedNames)")
        for name in Self.shippedNames {
            let file = try Data(contentsOf: Self.root.appendingPathComponent("configs/\(name).json"))
            for argument in [name, name + ".json"] {
                let result = try ProcessRunner.run(["config", argument], timeout: 60)
                #expect(result.status == 0, "\(argument): \(result.allOutput)")
                #expect(Data(result.output.utf8) == file, "\(argument)")
                #expect(result.errorOutput.isEmpty, "\(result.errorOutput)")
            }
        }
    }

    @Test("the listing names every shipped config once with the command that runs it")
    func listingNamesEveryConfig() throws {
        let result = try ProcessRunner.run(["config"], timeout: 60)
        #expect(result.status == 0, "\(result.allOutput)")
        let rows = result.output.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.map { String($0[0]) } == Self.shippedNames, "\(result.output)")
        for row in rows {
            // The shipped files are named after the command that runs them.
            let name = String(row[0])
            let command = name.hasPrefix("es-") ? "es," : name.hasPrefix("spd-") ? "spd," : "train,"
            #expect(row.count > 2 && row[1] == "spectrain" && String(row[2]) == command, "\(row)")
        }
    }

    @Test("a name that is not a shipped config, or that is a path, is a one-line error naming it",
          arguments: ["no-such-config", "fashion-mlp.yaml", "../Package", "..", "objectives/rosenbrock", "/etc/passwd", ""])
    func badName(_ name: String) throws {
        let result = try ProcessRunner.run(["config", name], timeout: 60)
        #expect(result.status != 0)
        #expect(result.output.isEmpty, "\(result.output)")
        let lines = result.errorOutput.split(separator: "\n")
        #expect(lines.count == 1, "\(result.errorOutput)")
        #expect(result.errorOutput.hasPrefix("spectrain: error: "), "\(result.errorOutput)")
        #expect(result.errorOutput.contains("'\(name)'"), "\(result.errorOutput)")
        if !name.contains("/") && !name.contains("..") && !name.isEmpty {
            #expect(result.errorOutput.contains("available: es-command,"), "\(result.errorOutput)")
        }
    }

    @Test("an unknown kind after --fields is an error naming it and the kinds")
    func badKind() throws {
        let result = try ProcessRunner.run(["config", "--fields", "plan"], timeout: 60)
        #expect(result.status != 0)
        #expect(result.errorOutput == "spectrain: error: --fields: 'plan' is not a config kind (train, es, spd)\n", "\(result.errorOutput)")
    }

    @Test("SPECTRAIN_CONFIGS names the folder, and is an error when it is not one")
    func environmentFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-configs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = #"{"problem": "gaussian", "dimension": 4, "riemannian": {"stepSize": 1}}"# + "\n"
        try Data(text.utf8).write(to: folder.appendingPathComponent("tiny.json"))
        let listing = try ProcessRunner.run(["config"], environment: ["SPECTRAIN_CONFIGS": folder.path])
        #expect(listing.status == 0, "\(listing.allOutput)")
        #expect(listing.output.split(separator: "\n").count == 2, "\(listing.output)")
        #expect(listing.output.contains("tiny  spectrain spd, problem gaussian (dimension 4)"), "\(listing.output)")
        let printed = try ProcessRunner.run(["config", "tiny"], environment: ["SPECTRAIN_CONFIGS": folder.path])
        #expect(printed.output == text)
        let notFolder = try ProcessRunner.run(["config"], environment: ["SPECTRAIN_CONFIGS": folder.appendingPathComponent("tiny.json").path])
        #expect(notFolder.status != 0)
        #expect(notFolder.errorOutput.split(separator: "\n").count == 1, "\(notFolder.errorOutput)")
        #expect(notFolder.errorOutput.contains("SPECTRAIN_CONFIGS='\(folder.path)/tiny.json' is not a folder"), "\(notFolder.errorOutput)")
    }

    @Test("an executable outside the repository finds ../share/spectrain/configs, through a symlink the repository's, else says to set SPECTRAIN_CONFIGS")
    func executableLocations() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-prefix-\(UUID().uuidString)")
        let bin = prefix.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: prefix) }
        let copy = bin.appendingPathComponent("spectrain")
        try FileManager.default.copyItem(atPath: ProcessRunner.executable, toPath: copy.path)
        let missing = try ProcessRunner.runScript("'\(copy.path)' config")
        #expect(missing.status != 0)
        #expect(missing.errorOutput.split(separator: "\n").count == 1, "\(missing.errorOutput)")
        #expect(missing.errorOutput.contains("no shipped configs found") && missing.errorOutput.contains("SPECTRAIN_CONFIGS"), "\(missing.errorOutput)")

        let share = prefix.appendingPathComponent("share/spectrain/configs")
        try FileManager.default.createDirectory(at: share, withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: share.appendingPathComponent("installed.json"))
        let installed = try ProcessRunner.runScript("'\(copy.path)' config installed")
        #expect(installed.status == 0 && installed.output == "{}\n", "\(installed.allOutput)")

        // A symlink resolves to the build inside the repository, whose configs/ wins.
        let link = prefix.appendingPathComponent("spectrain-link")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: ProcessRunner.executable)
        let linked = try ProcessRunner.runScript("'\(link.path)' config fashion-mlp")
        #expect(linked.status == 0, "\(linked.allOutput)")
        #expect(Data(linked.output.utf8) == (try Data(contentsOf: Self.root.appendingPathComponent("configs/fashion-mlp.json"))))
    }

    @Test("the bash completion script covers config, and completing its name offers the shipped configs")
    func completion() throws {
        let script = try ProcessRunner.run(["--generate-completion-script", "bash"], timeout: 60)
        #expect(script.status == 0, "\(script.allOutput)")
        #expect(script.output.contains("_spectrain_config()"), "bash script without the config subcommand")
        #expect(script.output.contains("---completion config -- positional@0"))
        // What that script runs when the user presses tab after `spectrain config fash`.
        let offered = try ProcessRunner.run(["---completion", "config", "--", "positional@0", "2", "4", "spectrain", "config", "fash"], timeout: 60)
        #expect(offered.status == 0, "\(offered.allOutput)")
        #expect(offered.output.split(separator: "\n").map(String.init) == Self.shippedNames.filter { $0.hasPrefix("fash") }, "\(offered.output)")
    }
}
