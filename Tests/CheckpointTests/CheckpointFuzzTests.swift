@testable import Checkpoint
import Foundation
import Linalg
import Testing

/// Draws for the fuzz cases from Linalg's seeded generator, so every case can be replayed from its seed.
fileprivate extension SeededGenerator {
    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    mutating func pick<Element>(_ choices: [Element]) -> Element {
        choices[Int.random(in: 0..<choices.count, using: &self)]
    }
}

/// Random and mutated inputs for everything that reads checkpoint bytes. Each case must end in
/// success or in a thrown one-line error naming the file; a trap would kill the test process.
/// `SPECTRAIN_FUZZ_CASES=100000 swift test --filter CheckpointFuzzTests` runs the long version.
@Suite("checkpoint fuzzing", .serialized)
struct CheckpointFuzzTests {
    /// The number of cases of the larger fuzz tests (the others run a fixed fraction of it).
    static let cases = ProcessInfo.processInfo.environment["SPECTRAIN_FUZZ_CASES"].flatMap { Int($0) }.map { max($0, 1) } ?? 1500

    /// The longest message part accepted: quoted file content is cut to 64 characters (escapes
    /// can make that several times longer), so anything much longer echoes too much.
    static let longestMessage = 700

    /// Records a failure unless `error` is one line starting with `prefix` and of bounded length.
    static func checkRejection(_ error: CheckpointError, prefix: String, _ context: @autoclosure () -> String) {
        let text = "\(error)"
        #expect(!text.contains("\n") && !text.contains("\r"), "\(context()): \(text.debugDescription)")
        #expect(text.hasPrefix(prefix), "\(context()): \(text.prefix(300).debugDescription)")
        #expect(error.message.count <= longestMessage, "\(context()): \(error.message.count) characters")
    }

    // MARK: safetensors

    static let sample = SafeTensors.encode([
        StoredTensor(name: "a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
        StoredTensor(name: "b/counters", shape: [2], integers: [7, -1]),
        StoredTensor(name: "empty", shape: [0, 4], floats: []),
    ], metadata: ["format": CheckpointStore.format, "step": "12"])

    /// Decodes `bytes` and checks the outcome: on success, the tensors exactly fill the data.
    @discardableResult
    static func decodeChecked(_ bytes: [UInt8], _ context: @autoclosure () -> String) -> Bool {
        let path = "fuzz/x.safetensors"
        do {
            let decoded = try SafeTensors.decode(bytes, path: path)
            let headerLength = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
            var total = 0
            for tensor in decoded.tensors.values {
                #expect(StoredTensor.byteCount(shape: tensor.shape, dtype: tensor.dtype) == tensor.bytes.count, "\(context())")
                total += tensor.bytes.count
            }
            #expect(total == bytes.count - 8 - headerLength, "\(context())")
            return true
        } catch {
            checkRejection(error, prefix: path + ": ", context())
            return false
        }
    }

    @Test("random bytes, with and without a plausible header length")
    func randomBytes() {
        var random = SeededGenerator(seed: 1)
        for index in 0..<Self.cases {
            var bytes = random.bytes(Int.random(in: 0...160, using: &random))
            if bytes.count >= 8, Bool.random(using: &random) {
                let length = UInt64.random(in: 0...UInt64(bytes.count - 8), using: &random).littleEndian
                withUnsafeBytes(of: length) { bytes.replaceSubrange(0..<8, with: $0) }
            }
            Self.decodeChecked(bytes, "random case \(index)")
        }
    }

    @Test("a valid file with bytes flipped, cut, inserted or deleted")
    func mutatedFiles() {
        var random = SeededGenerator(seed: 2)
        for index in 0..<Self.cases {
            var bytes = Self.sample
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                Self.mutate(&bytes, using: &random)
            }
            Self.decodeChecked(bytes, "mutation case \(index)")
        }
    }

    static func mutate(_ bytes: inout [UInt8], using random: inout SeededGenerator) {
        let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
        let whitespace: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
        switch Int.random(in: 0..<6, using: &random) {
        case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
        case 5:
            // JSON whitespace swapped for other whitespace: the same header, other bytes.
            if let index = bytes.indices.filter({ whitespace.contains(bytes[$0]) }).randomElement(using: &random) {
                bytes[index] = random.pick(whitespace.filter { $0 != bytes[index] })
            }
        case 1: bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
        case 2: bytes.insert(contentsOf: random.bytes(Int.random(in: 1...9, using: &random)), at: position)
        case 3 where !bytes.isEmpty: bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...9, using: &random)))
        default: if !bytes.isEmpty { bytes[position] = random.pick(Array("{}[]\":,0-e9\\ ".utf8)) }
        }
    }

    /// Header entry parts a hostile file might hold.
    static let dtypes = ["\"F32\"", "\"I64\"", "\"F16\"", "\"\"", "5", "null", "[\"F32\"]", "\"f32\""]
    static let shapes = [
        "[2,3]", "[6]", "[]", "[0]", "[-1]", "[-6,-1]", "[1e20,1e20]", "[9223372036854775807,2]", "[4294967296,4294967296,0]",
        "[0,9223372036854775807,9223372036854775807]", "[1.5,4]", "[\"2\",3]", "{}", "[[2],3]", "[3037000500,3037000500]", "[1e400]",
    ]
    static let offsets = [
        "[0,24]", "[0,0]", "[24,48]", "[-8,16]", "[0,1e30]", "[24,0]", "[0,9223372036854775807]", "[9223372036854775800,9223372036854775807]",
        "[0]", "[0,24,48]", "[]", "[16,40]", "[0,-24]", "\"0,24\"", "[0.5,24.5]", "[4,28]",
    ]

    @Test("hand-made headers: overflowing shapes, bad offsets, wrong dtypes, duplicate names, lying lengths")
    func craftedHeaders() {
        var random = SeededGenerator(seed: 3)
        var accepted = 0
        for index in 0..<Self.cases {
            var entries: [String] = []
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                let name = random.pick(["\"w\"", "\"v\"", "\"w\"", "\"__metadata__\"", "\"\"", "\"\\u0000\\n\""])
                entries.append("\(name):{\"dtype\":\(random.pick(Self.dtypes)),\"shape\":\(random.pick(Self.shapes)),\"data_offsets\":\(random.pick(Self.offsets))}")
            }
            if Bool.random(using: &random) {
                entries.append("\"__metadata__\":" + random.pick(["{\"format\":\"x\"}", "{\"format\":1}", "[]", "null", "{}"]))
            }
            let header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
            let data = random.bytes(random.pick([0, 24, 48, 72, 23]))
            var length = UInt64(header.count)
            switch Int.random(in: 0..<8, using: &random) {
            case 0: length += UInt64.random(in: 1...1000, using: &random)
            case 1: length = UInt64.max - UInt64.random(in: 0...8, using: &random)
            case 2: length = UInt64(Int.max) + 1
            default: break
            }
            var bytes: [UInt8] = []
            withUnsafeBytes(of: length.littleEndian) { bytes.append(contentsOf: $0) }
            if Self.decodeChecked(bytes + header + data, "crafted case \(index): \(String(decoding: header, as: UTF8.self))") { accepted += 1 }
        }
        // The valid combinations (e.g. F32 [2,3] at [0,24] with 24 bytes of data) must be read.
        #expect(accepted > Self.cases / 100, "only \(accepted) of \(Self.cases) crafted files were valid")
    }

    @Test("headers of random JSON-like tokens")
    func tokenHeaders() {
        let tokens = [
            "{", "}", "[", "]", ":", ",", "\"a\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"",
            "0", "24", "-1", "1e400", "-0", "9223372036854775808", "0.5", "null", "true", "\"\\ud800\"", "\"\\u0041\"",
            "\"\u{7}\"", " ", "\"x", "nul", "[[[[[[[[", "]]]]]]]]",
        ]
        var random = SeededGenerator(seed: 4)
        for index in 0..<Self.cases {
            let header = Array((0..<Int.random(in: 0...30, using: &random)).map { _ in random.pick(tokens) }.joined().utf8)
            var bytes: [UInt8] = []
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
            Self.decodeChecked(bytes + header + random.bytes(Int.random(in: 0...48, using: &random)), "token case \(index)")
        }
    }

    @Test("deeply nested and very long headers are rejected without exhausting the stack")
    func deepHeaders() {
        for depth in [129, 1_000, 100_000] {
            let header = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
            var bytes: [UInt8] = []
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
            #expect(throws: CheckpointError("d.safetensors", "header is not JSON (nested deeper than 128 levels at byte 136)")) {
                try SafeTensors.decode(bytes + header, path: "d.safetensors")
            }
        }
        let longName = String(repeating: "n\n", count: 100_000)
        let header = Array("{\"\(longName.replacingOccurrences(of: "\n", with: "\\n"))\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,4]}}".utf8)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        Self.decodeChecked(bytes + header + [0, 0, 0, 0], "long name")
    }

    // MARK: checkpoint folders

    /// A run folder with one checkpoint whose manifest has nested free-form parts.
    static func makeCheckpoint() throws -> (run: String, folder: String, written: CheckpointContents) {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-fuzz-\(UUID().uuidString)").path
        let written = CheckpointContents(
            manifest: [
                "step": .number(3), "epoch": .number(0.25),
                "config": .object(["model": .array([.object(["width": .number(8)]), .string("relu")]), "rate": .number(0.001)]),
                "loss": .number(.nan), "seed": .string("18446744073709551615"),
            ],
            model: [StoredTensor(name: "param/w", shape: [2, 2], floats: [1, 2, 3, 4]), StoredTensor(name: "param/b", shape: [2], floats: [0, -1])],
            optimizer: [StoredTensor(name: "optim/w/counters", shape: [1], integers: [5])])
        let folder = try CheckpointStore.write(written, step: 3, runFolder: run, keep: 2)
        return (run, folder, written)
    }

    static let hostileValues = [
        "1e300", "-1", "1e999", "\"nan\"", "NaN", "-0", "9223372036854775808", "18446744073709551616", "null", "true", "[]", "{}",
        "\"\\ud800\"", "\"\u{7}\\n\"", "0.5", "1.0e2", "3", "\"3\"", "[3]", "{\"file\":\"model.safetensors\",\"sha256\":7}",
        String(repeating: "[", count: 3000) + String(repeating: "]", count: 3000),
        String(repeating: "{\"a\":", count: 300) + "1" + String(repeating: "}", count: 300),
        "\"" + String(repeating: "x\\n", count: 20_000) + "\"",
    ]

    /// Replaces the value after one of the manifest's `" : "` separators with a hostile one.
    static func replaceValue(in text: String, using random: inout SeededGenerator) -> String {
        let separators = text.ranges(of: " : ")
        guard !separators.isEmpty else { return text }
        let separator = random.pick(separators)
        let rest = text[separator.upperBound...]
        let end = rest.firstIndex(where: { $0 == "," || $0 == "\n" }) ?? rest.endIndex
        return String(text[..<separator.upperBound]) + random.pick(hostileValues) + String(text[end...])
    }

    @Test("a checkpoint folder with a damaged manifest, checksum or tensor file: success only when unchanged, else one line naming a file in it")
    func damagedFolders() throws {
        let (run, folder, written) = try Self.makeCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let names = ["manifest.json", "manifest.sha256", "model.safetensors", "optim.safetensors"]
        var originals: [String: [UInt8]] = [:]
        for name in names { originals[name] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))) }
        var random = SeededGenerator(seed: 5)
        var resealedAccepted = 0
        for index in 0..<max(Self.cases / 3, 1) {
            let name = random.pick(names)
            let original = originals[name, default: []]
            var bytes = original
            /// Whether the manifest's checksum is redone after the change, so the fields themselves are tested.
            var reseal = false
            switch Int.random(in: 0..<7, using: &random) {
            case 0, 1:
                for _ in 0..<Int.random(in: 1...3, using: &random) { Self.mutate(&bytes, using: &random) }
            case 2 where name == "manifest.json":
                bytes = Array(Self.replaceValue(in: String(decoding: bytes, as: UTF8.self), using: &random).utf8)
                reseal = Bool.random(using: &random)
            case 3 where name == "manifest.json":
                for _ in 0..<Int.random(in: 1...3, using: &random) { Self.mutate(&bytes, using: &random) }
                reseal = true
            case 4:
                bytes = random.bytes(Int.random(in: 0...64, using: &random))
            case 5 where name.hasSuffix(".safetensors"):
                // The same tensor bytes under another shape, or another metadata entry: a consistent
                // file that only the file's SHA-256 in the manifest tells apart.
                var tensors = name == "model.safetensors" ? written.model : written.optimizer
                var metadata = ["format": CheckpointStore.format, "step": "3"]
                if Bool.random(using: &random) {
                    let index = Int.random(in: 0..<tensors.count, using: &random)
                    tensors[index].shape = [1] + tensors[index].shape
                } else {
                    metadata[random.pick(["note", "format2", "z"])] = "x"
                }
                bytes = SafeTensors.encode(tensors, metadata: metadata)
            default:
                if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 0x01 }
            }
            let path = folder + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            if reseal { try Data(ManifestChecksum.line(for: bytes).utf8).write(to: URL(fileURLWithPath: folder + "/manifest.sha256")) }
            let context = "case \(index): \(name)\(reseal ? " (resealed)" : "")"
            do {
                let read = try CheckpointStore.read(folder)
                #expect(bytes == original || reseal, "\(context): changed bytes were accepted")
                if reseal && bytes != original { resealedAccepted += 1 }
                #expect(read.model == written.model.sorted { $0.name < $1.name } && read.optimizer == written.optimizer, "\(context)")
            } catch {
                #expect(bytes != original || reseal, "\(context): unchanged checkpoint rejected: \(error)")
                Self.checkRejection(error, prefix: folder + "/", context)
            }
            try Data(original).write(to: URL(fileURLWithPath: path))
            if reseal { try Data(originals["manifest.sha256", default: []]).write(to: URL(fileURLWithPath: folder + "/manifest.sha256")) }
        }
        #expect(try CheckpointStore.read(folder).model.count == 2)
        // Free-form fields replaced in a resealed manifest do not matter to the store.
        #expect(resealedAccepted > 0)
    }

    @Test("latest and best with random contents: the folder only for its exact name, else one line that echoes at most an excerpt")
    func pointerContents() throws {
        let (run, folder, _) = try Self.makeCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let name = (folder as NSString).lastPathComponent
        var random = SeededGenerator(seed: 6)
        for index in 0..<max(Self.cases / 2, 1) {
            let pointerName = random.pick(["latest", "best"])
            var bytes: [UInt8]
            switch Int.random(in: 0..<6, using: &random) {
            case 0: bytes = random.bytes(Int.random(in: 0...300, using: &random))
            case 1: bytes = Array((name + random.pick(["", "\n", "\r\n", " \n\n", "\t"])).utf8)
            case 2: bytes = Array(("ckpt-" + String((0..<Int.random(in: 0...40, using: &random)).map { _ in random.pick(Array("0123456789")) })).utf8)
            case 3: bytes = Array((random.pick(["../", "/", "./", "ckpt-000003/", "", "\u{0}"]) + name + random.pick(["", "/..", "x", "\n\n"])).utf8)
            case 4: bytes = Array(name.utf8) + random.bytes(Int.random(in: 1...400, using: &random))
            default:
                bytes = Array(name.utf8)
                Self.mutate(&bytes, using: &random)
            }
            let path = run + "/" + pointerName
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let trimmed = String(validating: bytes, as: UTF8.self)?.trimmingCharacters(in: .whitespacesAndNewlines)
            let context = "case \(index): \(bytes.prefix(80))"
            do {
                let resolved = try CheckpointStore.pointer(named: pointerName, in: run)
                #expect(resolved == folder && trimmed == name, "\(context)")
            } catch {
                #expect(trimmed != name, "\(context): a correct pointer rejected: \(error)")
                Self.checkRejection(error, prefix: path + ": ", context)
                if bytes.count > 80 {
                    #expect(!error.message.contains(String(decoding: bytes.suffix(70), as: UTF8.self)), "\(context): echoed")
                }
            }
        }
    }

    @Test("random saves with random keep, advanceLatest and markBest: the pointers always name existing checkpoints, which rotation keeps")
    func rotation() throws {
        var random = SeededGenerator(seed: 7)
        for sequence in 0..<max(Self.cases / 100, 3) {
            let run = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-rotation-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: run) }
            var latest: String?
            var best: String?
            var written: [String] = []
            var previous: Set<String> = []
            var step = 0
            for save in 0..<6 {
                step += Int.random(in: 1...400_000, using: &random)
                let keep = Int.random(in: 0...3, using: &random)
                let advance = Bool.random(using: &random)
                let mark = Bool.random(using: &random)
                let contents = CheckpointContents(manifest: [:], model: [StoredTensor(name: "w", shape: [1], floats: [Float(step)])], optimizer: [])
                try CheckpointStore.write(contents, step: step, runFolder: run, keep: keep, advanceLatest: advance, markBest: mark)
                let name = CheckpointStore.folderName(step: step)
                written.append(name)
                if advance { latest = name }
                if mark { best = name }
                let present = CheckpointStore.checkpoints(in: run)
                let context = "sequence \(sequence) save \(save): \(present)"
                #expect(try CheckpointStore.pointer(named: "latest", in: run).map { ($0 as NSString).lastPathComponent } == latest, "\(context)")
                #expect(try CheckpointStore.pointer(named: "best", in: run).map { ($0 as NSString).lastPathComponent } == best, "\(context)")
                let candidates = written.filter { previous.contains($0) || $0 == name }
                let required = Set(candidates.suffix(max(keep, 1)) + [latest, best].compactMap { $0 })
                previous = Set(present)
                #expect(Set(present) == required, "\(context)")
            }
        }
    }
}
