import Support

/// `manifest.sha256`: the SHA-256 of a checkpoint's `manifest.json` in `sha256sum` format, so a
/// damaged or edited manifest is caught on reading and a user can check it with `sha256sum -c`.
enum ManifestChecksum {
    static let fileName = "manifest.sha256"
    /// The file is one line of 64 hex digits, two spaces and the name, far below this.
    static let maximumBytes = 4096

    /// The file's text for a manifest of `bytes`.
    static func line(for bytes: [UInt8]) -> String {
        SHA256.hex(bytes) + "  manifest.json\n"
    }

    /// Throws unless `folder`'s `manifest.sha256` is exactly the line `line(for:)` writes for
    /// `manifestBytes` (lowercase hex, as `sha256sum` writes it).
    static func verify(_ manifestBytes: [UInt8], folder: String) throws(CheckpointError) {
        let checksumPath = CheckpointStore.path(folder, fileName)
        let maximum = maximumBytes
        guard let stored = try RegularFile.readIfPresent(checksumPath, limit: maximum, tooLarge: {
            "is \($0) bytes; it should be one line '<SHA-256>  manifest.json'"
        }) else { throw CheckpointError(checksumPath, "does not exist (it holds the SHA-256 of manifest.json)") }
        let isLowercaseHex = stored.count == 64 + 16 && stored.prefix(64).allSatisfy {
            ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
        }
        guard isLowercaseHex, Array(stored.dropFirst(64)) == Array("  manifest.json\n".utf8) else {
            throw CheckpointError(checksumPath, "is not one line '<SHA-256 in lowercase hex>  manifest.json' as sha256sum writes it")
        }
        guard stored == Array(line(for: manifestBytes).utf8) else {
            throw CheckpointError(CheckpointStore.path(folder, "manifest.json"), "SHA-256 does not match manifest.sha256 (the file is corrupt or was edited)")
        }
    }
}
