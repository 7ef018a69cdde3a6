@testable import Checkpoint
import Foundation
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test("standard test vectors (FIPS 180-4 examples)")
    func vectors() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a': crosses many blocks.
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("feeding in pieces gives the same digest")
    func incremental() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var hasher = SHA256()
        for chunk in stride(from: 0, to: bytes.count, by: 37) { hasher.update(bytes[chunk..<min(chunk + 37, bytes.count)]) }
        #expect(hasher.finalize().map { String($0, radix: 16).leftPadded(to: 2) }.joined() == SHA256.hex(bytes))
    }
}

@Suite("safetensors files")
struct SafeTensorsTests {
    static let tensors = [
        StoredTensor(name: "param/w", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6.5]),
        StoredTensor(name: "optim/w/counters", shape: [3], integers: [7, 0, -2]),
        StoredTensor(name: "empty", shape: [0], floats: []),
    ]

    @Test("encode then decode gives the tensors and metadata back; the header is 8-byte aligned")
    func roundTrip() throws {
        let bytes = SafeTensors.encode(Self.tensors, metadata: ["format": "x"])
        let headerLength = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect((8 + headerLength) % 8 == 0)
        let decoded = try SafeTensors.decode(bytes, path: "f")
        #expect(decoded.metadata == ["format": "x"])
        #expect(decoded.tensors["param/w"] == Self.tensors[0])
        #expect(decoded.tensors["optim/w/counters"]?.integers == [7, 0, -2])
        #expect(decoded.tensors["empty"]?.shape == [0])
    }

    @Test("a bfloat16 tensor is stored as BF16, 2 bytes an element, little-endian, and read back bit for bit")
    func bfloat16() throws {
        let bits: [UInt16] = [0x3F80, 0xC020, 0x7F80, 0x0001, 0x8000, 0x7FC0]
        let tensor = StoredTensor(name: "optim/w/block0.L.eigenvectors", shape: [2, 3], bfloat16Bits: bits)
        #expect(tensor.bytes == [0x80, 0x3F, 0x20, 0xC0, 0x80, 0x7F, 0x01, 0x00, 0x00, 0x80, 0xC0, 0x7F])
        let bytes = SafeTensors.encode([tensor], metadata: [:])
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""dtype":"BF16""#))
        let decoded = try SafeTensors.decode(bytes, path: "f")
        #expect(decoded.tensors[tensor.name]?.dtype == .bfloat16)
        #expect(decoded.tensors[tensor.name]?.bfloat16Bits == bits)
        // A BF16 entry of 2 elements with 8 bytes of data (F32's size) is rejected by name.
        let header = Array(#"{"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        let padded = header + [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        let forged = withUnsafeBytes(of: UInt64(padded.count).littleEndian) { Array($0) } + padded + [UInt8](repeating: 0, count: 8)
        do {
            _ = try SafeTensors.decode(forged, path: "f")
            Issue.record("a BF16 tensor with F32's byte count was accepted")
        } catch {
            #expect("\(error)" == "f: tensor 'x': offsets hold 8 bytes, shape [2] BF16 needs 4")
        }
    }

    @Test("every malformed file is one error naming the file")
    func malformed() throws {
        let good = SafeTensors.encode(Self.tensors, metadata: ["format": "x"])
        let headerLength = good.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        func failure(_ bytes: [UInt8]) -> String {
            do {
                _ = try SafeTensors.decode(bytes, path: "m.safetensors")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(failure([1, 2, 3]).hasPrefix("m.safetensors: not a safetensors file (3 bytes"))
        var absurd = good
        absurd[7] = 0x7f
        #expect(failure(absurd).hasPrefix("m.safetensors: not a safetensors file (header length"))
        var notJSON = good
        notJSON[8] = UInt8(ascii: "#")
        #expect(failure(notJSON) == "m.safetensors: header is not JSON (expected a value at byte 8)")
        #expect(failure(Array(good.dropLast(4))) == "m.safetensors: truncated: the tensors need 48 bytes of data, the file holds 44")
        #expect(failure(good + [0]) == "m.safetensors: 1 bytes after the last tensor")
        // A header whose offsets do not match the shape.
        let header = String(decoding: good[8..<(8 + headerLength)], as: UTF8.self).replacingOccurrences(of: "[2,3]", with: "[3,3]")
        var reshaped = good
        reshaped.replaceSubrange(8..<(8 + headerLength), with: Array(header.utf8))
        #expect(failure(reshaped).contains("tensor 'param/w': offsets hold 24 bytes, shape [3, 3] F32 needs 36"))
    }
}

@Suite("checkpoint folders", .serialized)
struct CheckpointStoreTests {
    func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func contents(step: Int) -> CheckpointContents {
        CheckpointContents(
            manifest: ["step": .number(Double(step)), "note": .string("x")],
            model: [StoredTensor(name: "param/w", shape: [2], floats: [Float(step), 1])],
            optimizer: [StoredTensor(name: "optim/w/adam.m", shape: [2], floats: [0.5, -0.5])])
    }

    @Test("write, resolve through latest, read back; only the newest `keep` remain")
    func writeAndRead() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        for step in [10, 20, 30, 40] {
            try CheckpointStore.write(contents(step: step), step: step, runFolder: run, keep: 2)
        }
        #expect(CheckpointStore.checkpoints(in: run) == ["ckpt-000030", "ckpt-000040"])
        let resolved = try CheckpointStore.resolve(run)
        #expect(resolved.hasSuffix("ckpt-000040"))
        let read = try CheckpointStore.read(resolved)
        #expect(read.manifest["step"]?.integer == 40)
        #expect(read.model == contents(step: 40).model)
        #expect(read.optimizer == contents(step: 40).optimizer)
        #expect(try CheckpointStore.resolve((run as NSString).appendingPathComponent("ckpt-000030")).hasSuffix("ckpt-000030"))
    }

    @Test("a stale temporary folder is ignored by resolve and removed by the next save")
    func staleTemporary() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        try CheckpointStore.write(contents(step: 5), step: 5, runFolder: run, keep: 3)
        let stale = (run as NSString).appendingPathComponent("ckpt-000009.tmp")
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        #expect(try CheckpointStore.resolve(run).hasSuffix("ckpt-000005"))
        try CheckpointStore.write(contents(step: 12), step: 12, runFolder: run, keep: 3)
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    @Test("corruption and missing pieces are one-line errors")
    func corruption() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let checkpoint = try CheckpointStore.write(contents(step: 3), step: 3, runFolder: run, keep: 3)
        let model = (checkpoint as NSString).appendingPathComponent("model.safetensors")
        let original = try Data(contentsOf: URL(fileURLWithPath: model))
        func failure() -> String {
            do {
                _ = try CheckpointStore.read(checkpoint)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        var flipped = [UInt8](original)
        flipped[flipped.count - 1] ^= 0x40
        try Data(flipped).write(to: URL(fileURLWithPath: model))
        #expect(failure() == "\(model): tensor 'param/w': SHA-256 mismatch (the file is corrupt)")
        try original.prefix(original.count - 3).write(to: URL(fileURLWithPath: model))
        #expect(failure().hasPrefix("\(model): truncated"))
        try Data(SafeTensors.encode([], metadata: ["format": CheckpointStore.format, "step": "3"])).write(to: URL(fileURLWithPath: model))
        #expect(failure() == "\(model): tensor 'param/w' listed in manifest.json is missing")
        try Data(SafeTensors.encode(contents(step: 3).model, metadata: ["format": "other"])).write(to: URL(fileURLWithPath: model))
        #expect(failure() == "\(model): not a spectrain checkpoint file (metadata format 'other')")
        try Data(SafeTensors.encode(contents(step: 3).model, metadata: ["format": CheckpointStore.format, "step": "4"])).write(to: URL(fileURLWithPath: model))
        #expect(failure() == "\(model): metadata step '4' differs from manifest.json's step 3")
        // Same tensors, another header layout (a metadata key added): only the file's SHA-256 sees it.
        try Data(SafeTensors.encode(contents(step: 3).model, metadata: ["format": CheckpointStore.format, "step": "3", "x": "y"])).write(to: URL(fileURLWithPath: model))
        #expect(failure() == "\(model): SHA-256 of the file does not match manifest.json (its header was changed)")
        try original.write(to: URL(fileURLWithPath: model))
        #expect(failure() == "no error")
        let manifest = (checkpoint as NSString).appendingPathComponent("manifest.json")
        let manifestOriginal = try Data(contentsOf: URL(fileURLWithPath: manifest))
        try Data(String(decoding: manifestOriginal, as: UTF8.self).replacingOccurrences(of: "\"x\"", with: "\"y\"").utf8)
            .write(to: URL(fileURLWithPath: manifest))
        #expect(failure() == "\(manifest): SHA-256 does not match manifest.sha256 (the file is corrupt or was edited)")
        try Data("{".utf8).write(to: URL(fileURLWithPath: manifest))
        #expect(failure() == "\(manifest): is not valid JSON (unexpected end, expected a quoted key at byte 1)")
        try manifestOriginal.write(to: URL(fileURLWithPath: manifest))
        let checksum = (checkpoint as NSString).appendingPathComponent("manifest.sha256")
        try FileManager.default.removeItem(atPath: checksum)
        #expect(failure() == "\(checksum): does not exist (it holds the SHA-256 of manifest.json)")
        #expect(throws: CheckpointError.self) { try CheckpointStore.resolve((run as NSString).appendingPathComponent("nope")) }
    }

    @Test("the step must agree between the manifest and both files, even when the manifest's checksum is redone")
    func stepAgreement() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let checkpoint = try CheckpointStore.write(contents(step: 3), step: 3, runFolder: run, keep: 3)
        let manifest = (checkpoint as NSString).appendingPathComponent("manifest.json")
        let edited = try String(contentsOfFile: manifest, encoding: .utf8).replacingOccurrences(of: "\"step\" : 3", with: "\"step\" : 5")
        try Data(edited.utf8).write(to: URL(fileURLWithPath: manifest))
        try Data(ManifestChecksum.line(for: Array(edited.utf8)).utf8).write(to: URL(fileURLWithPath: (checkpoint as NSString).appendingPathComponent("manifest.sha256")))
        #expect(throws: CheckpointError((checkpoint as NSString).appendingPathComponent("model.safetensors"), "metadata step '3' differs from manifest.json's step 5")) {
            try CheckpointStore.read(checkpoint)
        }
        #expect(throws: CheckpointError(run, "cannot save step 4: the manifest's step field says otherwise")) {
            try CheckpointStore.write(contents(step: 3), step: 4, runFolder: run, keep: 3)
        }
    }

    @Test("NaN and infinities in the manifest are written as \"nan\", \"inf\", \"-inf\" and read back; sha256sum -c accepts manifest.sha256")
    func nonFiniteManifest() throws {
        struct Window: Codable, Equatable {
            var loss: Double
            var rates: [Double]
        }
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        var written = contents(step: 7)
        written.manifest["window"] = try JSONValue(encoding: Window(loss: .nan, rates: [.infinity, -.infinity, 0.25]))
        written.manifest["loss"] = .number(.nan)
        let checkpoint = try CheckpointStore.write(written, step: 7, runFolder: run, keep: 3)
        let read = try CheckpointStore.read(checkpoint)
        #expect(read.manifest["loss"] == .string("nan"))
        #expect(read.manifest["window"] == .object(["loss": .string("nan"), "rates": .array([.string("inf"), .string("-inf"), .number(0.25)])]))
        let window = try #require(read.manifest["window"]).decoded(as: Window.self)
        #expect(window.loss.isNaN)
        #expect(window.rates[0] == .infinity && window.rates[1] == -.infinity && window.rates[2] == 0.25)
        let text = try String(contentsOfFile: (checkpoint as NSString).appendingPathComponent("manifest.json"), encoding: .utf8)
        #expect(text.contains("\"loss\" : \"nan\""))
        let sha256sum = "/usr/bin/sha256sum"
        if FileManager.default.isExecutableFile(atPath: sha256sum) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: sha256sum)
            process.arguments = ["--check", "--status", "manifest.sha256"]
            process.currentDirectoryURL = URL(fileURLWithPath: checkpoint)
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
    }

    @Test("JSON text written by encoded() parses back to the same value (numbers to the last bit)")
    func jsonRoundTrip() throws {
        let value = JSONValue.object([
            "a": .array([.number(0.1), .number(-0.0), .number(1e300), .number(.leastNonzeroMagnitude), .number(123456789), .null, .bool(false)]),
            "quote\"\\\n\u{1}é": .string("tab\t\u{7f}\u{2028}😀"),
            "empty": .object([:]), "none": .array([]),
        ])
        #expect(try JSONValue(parsing: value.encoded()) == value)
        #expect(try JSONValue(parsing: Data(value.compactText().utf8)) == value)
    }

    @Test("the JSON parser rejects what a Double or a JSONValue cannot hold, with the byte offset")
    func jsonRejections() {
        func problem(_ text: String) -> String {
            do {
                _ = try JSONValue(parsing: Data(text.utf8))
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(problem("[1e400]") == "number '1e400' is out of range at byte 1")
        #expect(problem("{\"a\":1,\"a\":2}") == "duplicate key 'a' at byte 7")
        #expect(problem(String(repeating: "[", count: 200) + String(repeating: "]", count: 200)) == "nested deeper than 128 levels at byte 128")
        #expect(problem("[NaN]") == "expected a value at byte 1")
        #expect(problem("\"\\ud800\"") == "unpaired surrogate in a \\u escape at byte 7")
        #expect(problem("[01]") == "expected ',' or ']' at byte 2")
        #expect(problem("1 2") == "unexpected text after the JSON value at byte 2")
    }
}

@Suite("checkpoint pointers, rotation and fallback", .serialized)
struct CheckpointPointerTests {
    func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-pointers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func contents(step: Int) -> CheckpointContents {
        CheckpointContents(
            manifest: ["step": .number(Double(step))],
            model: [StoredTensor(name: "param/w", shape: [2], floats: [Float(step), 1])],
            optimizer: [StoredTensor(name: "optim/w/adam.m", shape: [1], floats: [0.5])])
    }

    func failure(_ body: () throws(CheckpointError) -> Any?) -> String {
        do {
            return "no error: \(String(describing: try body()))"
        } catch {
            return "\(error)"
        }
    }

    func pointerFile(_ run: String, _ name: String = "latest") -> String {
        (run as NSString).appendingPathComponent(name)
    }

    @Test("advanceLatest false writes the checkpoint but latest keeps naming the previous one")
    func keepLatest() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        try CheckpointStore.write(contents(step: 10), step: 10, runFolder: run, keep: 3)
        let second = try CheckpointStore.write(contents(step: 20), step: 20, runFolder: run, keep: 3, advanceLatest: false)
        #expect(try CheckpointStore.resolve(run).hasSuffix("/ckpt-000010"))
        #expect(try CheckpointStore.read(second).manifest["step"]?.integer == 20)
        #expect(try CheckpointStore.pointer(named: "best", in: run) == nil)
    }

    @Test("rotation keeps the newest `keep` and the checkpoints latest and best name")
    func rotationKeepsPointers() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        try CheckpointStore.write(contents(step: 10), step: 10, runFolder: run, keep: 1, markBest: true)
        try CheckpointStore.write(contents(step: 20), step: 20, runFolder: run, keep: 1)
        try CheckpointStore.write(contents(step: 30), step: 30, runFolder: run, keep: 1, advanceLatest: false)
        try CheckpointStore.write(contents(step: 40), step: 40, runFolder: run, keep: 1, advanceLatest: false)
        #expect(CheckpointStore.checkpoints(in: run) == ["ckpt-000010", "ckpt-000020", "ckpt-000040"])
        #expect(try CheckpointStore.pointer(named: "best", in: run) == (run as NSString).appendingPathComponent("ckpt-000010"))
        #expect(try CheckpointStore.pointer(named: "latest", in: run) == (run as NSString).appendingPathComponent("ckpt-000020"))
        #expect(try String(contentsOfFile: pointerFile(run, "best"), encoding: .utf8) == "ckpt-000010\n")
    }

    @Test("a symlink-loop latest says so")
    func symlinkLoop() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        try CheckpointStore.write(contents(step: 10), step: 10, runFolder: run, keep: 3)
        try FileManager.default.removeItem(atPath: pointerFile(run))
        try FileManager.default.createSymbolicLink(atPath: pointerFile(run), withDestinationPath: "latest")
        #expect(failure { () throws(CheckpointError) in try CheckpointStore.resolve(run) } == "\(pointerFile(run)): is a symlink loop")
        #expect(failure { () throws(CheckpointError) in try CheckpointStore.pointer(named: "latest", in: run) } == "\(pointerFile(run)): is a symlink loop")
        // The next save replaces the link with a file.
        try CheckpointStore.write(contents(step: 20), step: 20, runFolder: run, keep: 3)
        #expect(try CheckpointStore.resolve(run).hasSuffix("/ckpt-000020"))
    }

    @Test("a 1 MB latest is an error that does not echo it")
    func hugeLatest() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        try Data(repeating: UInt8(ascii: "A"), count: 1 << 20).write(to: URL(fileURLWithPath: pointerFile(run)))
        #expect(failure { () throws(CheckpointError) in try CheckpointStore.resolve(run) }
                == "\(pointerFile(run)): is 1048576 bytes, too large to be a pointer to a checkpoint folder (at most 256)")
        let long = "ckpt-" + String(repeating: "x", count: 200)
        try Data(long.utf8).write(to: URL(fileURLWithPath: pointerFile(run)))
        let message = failure { () throws(CheckpointError) in try CheckpointStore.resolve(run) }
        #expect(message.hasPrefix("\(pointerFile(run)): does not name a checkpoint folder ('ckpt-xxx"))
        #expect(message.count < pointerFile(run).count + 140)
    }

    @Test("latest naming a missing folder, a file, a path or garbage: one line saying which")
    func badLatest() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let latest = pointerFile(run)
        func with(_ bytes: [UInt8]) throws -> String {
            try Data(bytes).write(to: URL(fileURLWithPath: latest))
            return failure { () throws(CheckpointError) in try CheckpointStore.resolve(run) }
        }
        #expect(try with(Array("ckpt-000040\n".utf8)) == "\(latest): names ckpt-000040, which does not exist")
        try Data().write(to: URL(fileURLWithPath: (run as NSString).appendingPathComponent("ckpt-000050")))
        #expect(try with(Array("ckpt-000050\n".utf8)) == "\(latest): names ckpt-000050, which is not a folder")
        #expect(try with(Array("../other/ckpt-000050".utf8)) == "\(latest): holds a path, '../other/ckpt-000050', not the name of a checkpoint folder")
        #expect(try with([0x63, 0xFF, 0x0A]) == "\(latest): is not UTF-8 text")
        #expect(try with(Array(" \n".utf8)) == "\(latest): is empty (it should name a checkpoint folder, e.g. ckpt-000100)")
        #expect(try with(Array("ckpt-1\nrm -rf /".utf8)) == "\(latest): holds a path, 'ckpt-1\\nrm -rf /', not the name of a checkpoint folder")
        try FileManager.default.createDirectory(atPath: (run as NSString).appendingPathComponent("ckpt-000060"), withIntermediateDirectories: false)
        #expect(try with(Array("ckpt-000060\n".utf8)) == "\(latest): names ckpt-000060, which has no manifest.json")
        try FileManager.default.removeItem(atPath: latest)
        try FileManager.default.createDirectory(atPath: latest, withIntermediateDirectories: false)
        #expect(failure { () throws(CheckpointError) in try CheckpointStore.resolve(run) } == "\(latest): is a folder, not a regular file")
        try FileManager.default.removeItem(atPath: latest)
        #expect(failure { () throws(CheckpointError) in try CheckpointStore.resolve(run) } == "\(run): holds no checkpoint (no manifest.json and no 'latest')")
    }

    @Test("a FIFO as latest is rejected at once instead of blocking")
    func fifoLatest() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        #expect(mkfifo(pointerFile(run), 0o644) == 0)
        #expect(failure { () throws(CheckpointError) in try CheckpointStore.pointer(named: "latest", in: run) }
                == "\(pointerFile(run)): is a FIFO (named pipe), not a regular file")
    }

    @Test("an unreadable latest says permission denied", .enabled(if: geteuid() != 0, "root reads any file"))
    func unreadableLatest() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        try Data("ckpt-000001\n".utf8).write(to: URL(fileURLWithPath: pointerFile(run)))
        #expect(chmod(pointerFile(run), 0) == 0)
        #expect(failure { () throws(CheckpointError) in try CheckpointStore.pointer(named: "latest", in: run) }
                == "\(pointerFile(run)): cannot be opened: permission denied")
    }

    @Test("newestComplete goes newest first by step number, skipping damaged and unaccepted folders with a line each")
    func newestComplete() throws {
        let run = try folder()
        defer { try? FileManager.default.removeItem(atPath: run) }
        for step in [999_998, 999_999, 1_000_000] {
            try CheckpointStore.write(contents(step: step), step: step, runFolder: run, keep: 5)
        }
        #expect(CheckpointStore.checkpoints(in: run) == ["ckpt-999998", "ckpt-999999", "ckpt-1000000"])
        let newest = (run as NSString).appendingPathComponent("ckpt-1000000")
        #expect(CheckpointStore.newestComplete(in: run)?.folder == newest)
        #expect(CheckpointStore.newestComplete(in: run)?.skipped == [])
        let model = (newest as NSString).appendingPathComponent("model.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: model))
        let found = CheckpointStore.newestComplete(in: run) { $0.manifest["step"]?.integer != 999_999 }
        #expect(found?.folder == (run as NSString).appendingPathComponent("ckpt-999998"))
        #expect(found?.skipped == [
            "\(model): not a safetensors file (3 bytes, shorter than its 8-byte header length)",
            "\(run)/ckpt-999999: complete, but not accepted",
        ])
        #expect(CheckpointStore.newestComplete(in: run) { _ in false } == nil)
        #expect(CheckpointStore.newestComplete(in: (run as NSString).appendingPathComponent("missing")) == nil)
    }
}
