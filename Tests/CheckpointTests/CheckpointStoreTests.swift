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
        #expect(failure(notJSON) == "m.safetensors: header is not JSON")
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
        try Data(SafeTensors.encode([], metadata: ["format": CheckpointStore.format])).write(to: URL(fileURLWithPath: model))
        #expect(failure() == "\(model): tensor 'param/w' listed in manifest.json is missing")
        try Data(SafeTensors.encode(contents(step: 3).model, metadata: ["format": "other"])).write(to: URL(fileURLWithPath: model))
        #expect(failure() == "\(model): not a spectrain checkpoint file (metadata format 'other')")
        try original.write(to: URL(fileURLWithPath: model))
        #expect(failure() == "no error")
        let manifest = (checkpoint as NSString).appendingPathComponent("manifest.json")
        try Data("{".utf8).write(to: URL(fileURLWithPath: manifest))
        #expect(failure() == "\(manifest): not a JSON object")
        #expect(throws: CheckpointError.self) { try CheckpointStore.resolve((run as NSString).appendingPathComponent("nope")) }
    }
}
