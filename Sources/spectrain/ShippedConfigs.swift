import ArgumentParser
import Foundation
import Support

/// The configuration files shipped with spectrain (the repository's `configs/` folder), found at
/// run time, so `spectrain config NAME > mine.json` can start a user from one.
///
/// The folder is, in this order: `$SPECTRAIN_CONFIGS`; the `configs` folder of the nearest folder
/// above the executable's real path that holds both `Package.swift` and `configs/` (a build
/// inside the repository); `<executable's folder>/../share/spectrain/configs` (an installation).
struct ShippedConfigs {
    /// The environment variable that names the folder.
    static let environmentVariable = "SPECTRAIN_CONFIGS"

    /// The folder the configs are in.
    let folder: String

    /// The shipped configs' folder, or a one-line error saying where it was looked for.
    static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ShippedConfigs {
        if let given = environment[environmentVariable] {
            guard isFolder(given) else {
                throw ValidationError("\(environmentVariable)='\(Untrusted.oneLine(given, limit: 4096))' is not a folder")
            }
            return ShippedConfigs(folder: given)
        }
        let executable = executablePath()
        var directory = (executable as NSString).deletingLastPathComponent
        while !directory.isEmpty {
            let configs = (directory as NSString).appendingPathComponent("configs")
            if isRegularFile((directory as NSString).appendingPathComponent("Package.swift")), isFolder(configs) {
                return ShippedConfigs(folder: configs)
            }
            guard directory != "/" else { break }
            directory = (directory as NSString).deletingLastPathComponent
        }
        let installed = (((executable as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("../share/spectrain/configs") as NSString).standardizingPath
        if isFolder(installed) { return ShippedConfigs(folder: installed) }
        throw ValidationError(
            "no shipped configs found (no folder with Package.swift and configs/ above \(executable), no \(installed)): "
                + "set \(environmentVariable) to the configs folder")
    }

    /// The configs' names (file names without `.json`), sorted.
    func names() throws -> [String] {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw ValidationError("\(folder): cannot list (\((error as NSError).localizedDescription))")
        }
        return entries.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") && Self.isRegularFile(path(of: $0)) }
            .map { String($0.dropLast(".json".count)) }
            .sorted()
    }

    /// The bytes of the config `name` (with or without `.json`), as shipped; an error names a
    /// name that is a path, or one not shipped, with the names that are.
    func contents(of name: String) throws -> [UInt8] {
        let bare = name.hasSuffix(".json") ? String(name.dropLast(".json".count)) : name
        guard !bare.isEmpty else { throw ValidationError("config name \(Untrusted.quote(name)) is empty: give a name from `spectrain config`") }
        guard !bare.contains("/"), !bare.contains(".."), !bare.contains("\0") else {
            throw ValidationError("config name \(Untrusted.quote(name)) is a path: give a name from `spectrain config` (no '/' or '..')")
        }
        let available = try names()
        guard available.contains(bare) else {
            throw ValidationError("unknown config \(Untrusted.quote(name)) (available: \(available.joined(separator: ", ")))")
        }
        return try RegularFile.read(path(of: bare + ".json"), limit: ConfigurationFile.maximumFileBytes)
    }

    /// The path of the file `fileName` in the folder.
    func path(of fileName: String) -> String {
        (folder as NSString).appendingPathComponent(fileName)
    }

    /// The running executable's path with every symbolic link resolved.
    private static func executablePath() -> String {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard let resolved = realpath(link, nil) else { return link }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private static func isRegularFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}
