import Foundation
import Glibc
@testable import Support
import Testing

/// Integer fields of every kind the decoder rephrases: ranged, unranged, unsigned, optional.
private struct Sizes: ConfigRecord, Equatable {
    var epochs = 5
    var width = 1
    var seed: UInt64 = 1
    var limit: Int?

    static let fields: [ConfigField<Sizes>] = [
        .init("epochs", \.epochs, .within(1...1_000_000)),
        .init("width", \.width, .atLeast(1)),
        .init("seed", \.seed),
        .init("limit", \.limit, .within(1...100)),
    ]

    static func defaults(given _: GivenFields<Sizes>) -> Sizes { Sizes() }
}

@Suite("Configuration files")
struct ConfigurationFileTests {
    private func failure(_ json: String) -> String? {
        do {
            _ = try ConfigurationFile.decode(Sizes.self, from: Data(json.utf8), path: "c.json")
            return nil
        } catch {
            return error.description
        }
    }

    @Test("a number an integer field cannot hold names the field and its range, not 'not valid JSON'", arguments: [
        (#"{"epochs": 1e30}"#, "c.json: field 'epochs': must be an integer in 1...1000000, got 1e+30"),
        (#"{"epochs": 99999999999999999999}"#, "c.json: field 'epochs': must be an integer in 1...1000000, got 1e+20"),
        (#"{"epochs": 2.5}"#, "c.json: field 'epochs': must be an integer in 1...1000000, got 2.5"),
        (#"{"epochs": 2000000}"#, "c.json: field 'epochs': must be <= 1000000, got 2000000"),
        (#"{"epochs": 0}"#, "c.json: field 'epochs': must be >= 1, got 0"),
        (#"{"width": 1e19}"#, "c.json: field 'width': must be an integer >= 1 and in -9223372036854775808...9223372036854775807, got 1e+19"),
        (#"{"seed": -1}"#, "c.json: field 'seed': must be an integer in 0...18446744073709551615, got -1"),
        (#"{"limit": 1e300}"#, "c.json: field 'limit': must be an integer in 1...100, got 1e+300"),
    ])
    func integerOutOfRange(json: String, message: String) {
        #expect(failure(json) == message)
    }

    @Test("invalid JSON and deep nesting are one line without Foundation's error dump")
    func syntax() {
        for json in ["{\"epochs\": ", "\u{FF}", "{\"epochs\": 1e400}", String(repeating: "[", count: 100_000), "{\"a\": " + String(repeating: "{\"a\": ", count: 5000)] {
            let message = failure(json) ?? "decoded"
            #expect(message.hasPrefix("c.json: not valid JSON"), "\(message.prefix(200))")
            #expect(!message.contains("\n") && !message.contains("Domain=") && !message.contains("The operation could not be completed"))
        }
    }

    @Test("a FIFO, a directory and a missing file are refused without blocking")
    func nonRegularFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fifo = folder + "/config.json"
        #expect(mkfifo(fifo, 0o600) == 0)
        let outcome = outcomeWithoutBlocking(fifo: fifo) { _ = try ConfigurationFile.load(Sizes.self, from: fifo) }
        #expect(outcome != nil, "loading a FIFO blocked")
        #expect(outcome == "\(fifo): is a FIFO (named pipe), not a regular file")
        #expect(throws: ConfigurationError(folder, "is a folder, not a regular file")) { try ConfigurationFile.load(Sizes.self, from: folder) }
        #expect(throws: ConfigurationError(folder + "/none.json", "does not exist")) { try ConfigurationFile.load(Sizes.self, from: folder + "/none.json") }
    }
}
