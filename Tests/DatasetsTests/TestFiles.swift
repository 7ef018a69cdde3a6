import Datasets
import Foundation

/// A fresh temporary directory for one test's files, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("spectrain-data-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` in the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Foundation.Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Writes `bytes` gzip-compressed (by /usr/bin/gzip, as the datasets were made) and returns
    /// the path and the compressed bytes.
    @discardableResult
    func writeGzip(_ name: String, _ bytes: [UInt8]) throws -> (path: String, compressed: [UInt8]) {
        let plain = try write(name, bytes)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
        process.arguments = ["-n", "-f", "-9", plain]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw GzipFailed() }
        let compressed = plain + ".gz"
        try FileManager.default.moveItem(atPath: compressed, toPath: plain)
        return (plain, try contents(of: plain))
    }

    func contents(of file: String) throws -> [UInt8] {
        [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: file)))
    }
}

struct GzipFailed: Error {}

/// The one-line message of the `DataError` `body` throws, or nil when it does not throw.
func dataError(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as DataError {
        return error.description
    } catch {
        return "not a DataError: \(error)"
    }
}

/// An IDX header: two zero bytes, the type, the dimension count and the big-endian dimensions.
func idxHeader(type: UInt8, dimensions: [UInt32]) -> [UInt8] {
    var header: [UInt8] = [0, 0, type, UInt8(dimensions.count)]
    for size in dimensions {
        header += withUnsafeBytes(of: size.bigEndian) { Array($0) }
    }
    return header
}

/// Bytes that compress poorly (a linear congruential sequence), so a gzip stream of them is long
/// enough to cut in the middle of its deflate data.
func noiseBytes(_ count: Int, seed: UInt32 = 1) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 1_664_525 &+ 1_013_904_223
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}
