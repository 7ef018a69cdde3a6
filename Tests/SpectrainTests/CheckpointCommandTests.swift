import Checkpoint
import Foundation
import Linalg
import Testing

/// Checkpoints and resume as a user runs them, with real mpirun.
@Suite("checkpoints and resume", .serialized, .enabled(if: FileManager.default.fileExists(atPath: TrainCommandTests.fashionMNIST), "needs the Debian package dataset-fashion-mnist"))
struct CheckpointCommandTests {
    static func arguments(name: String, folder: URL, steps: Int, extra: [String] = []) -> [String] {
        DistributedTrainingTests.arguments(name: name, folder: folder, steps: steps, extra: [
            "--set", "training.logEvery=1", "--set", "training.evalEvery=20", "--set", "checkpoint.everySteps=20",
        ] + extra)
    }

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A new run folder holding a copy of `run`'s checkpoint `name` and its metrics, to resume from.
    func copy(_ run: URL, checkpoint name: String, to target: URL) throws {
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: run.appendingPathComponent(name), to: target.appendingPathComponent(name))
        try FileManager.default.copyItem(at: run.appendingPathComponent("metrics.jsonl"), to: target.appendingPathComponent("metrics.jsonl"))
        try Data((name + "\n").utf8).write(to: target.appendingPathComponent("latest"))
    }

    func records(_ run: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    func losses(_ run: URL) throws -> [String] {
        try records(run).map { "\($0["step"]!) \($0["loss"]!) \($0["testLoss"] ?? "-")" }
    }

    @Test("save at step 20, continue to 30; resume from the save and run to 30: identical losses and tensors",
          arguments: [1, 2])
    func bitIdentical(ranks: Int) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try ProcessRunner.run(Self.arguments(name: "a", folder: folder, steps: 30), ranks: ranks == 1 ? nil : ranks, timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        let a = folder.appendingPathComponent("a")
        let b = folder.appendingPathComponent("b")
        try copy(a, checkpoint: "ckpt-000020", to: b)
        let resumed = try ProcessRunner.run(
            Self.arguments(name: "b", folder: folder, steps: 30, extra: ["--resume", b.appendingPathComponent("ckpt-000020").path]),
            ranks: ranks == 1 ? nil : ranks, timeout: 600)
        #expect(resumed.status == 0, "\(resumed.allOutput)")
        #expect(resumed.output.contains("resumed from \(b.path)/ckpt-000020 at step 20"))
        #expect(try losses(b) == losses(a))
        #expect(try losses(a).count == 30)
        for file in ["model.safetensors", "optim.safetensors"] {
            let original = try Data(contentsOf: a.appendingPathComponent("ckpt-000030/\(file)"))
            let continued = try Data(contentsOf: b.appendingPathComponent("ckpt-000030/\(file)"))
            #expect(original == continued, "\(file) differs")
        }
    }

    @Test("--branch continues from a checkpoint in a new run folder: the same losses, the original run untouched")
    func branch() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = folder.appendingPathComponent("a")
        let b = folder.appendingPathComponent("b")
        let first = try ProcessRunner.run(Self.arguments(name: "a", folder: folder, steps: 30), timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        func snapshot(_ run: URL) throws -> [String: Data] {
            var files: [String: Data] = [:]
            let enumerator = FileManager.default.enumerator(at: run, includingPropertiesForKeys: nil)!
            for case let url as URL in enumerator where !url.hasDirectoryPath {
                files[url.path] = try Data(contentsOf: url)
            }
            return files
        }
        let before = try snapshot(a)
        let checkpoint = a.appendingPathComponent("ckpt-000020").path
        let branched = try ProcessRunner.run(
            Self.arguments(name: "b", folder: folder, steps: 30, extra: ["--resume", checkpoint, "--branch"]), timeout: 600)
        #expect(branched.status == 0, "\(branched.allOutput)")
        #expect(branched.output.contains("branched from \(checkpoint) at step 20 into \(b.path)"), "\(branched.output)")
        #expect(try losses(b) == losses(a))
        #expect(try Data(contentsOf: b.appendingPathComponent("ckpt-000030/optim.safetensors"))
                == Data(contentsOf: a.appendingPathComponent("ckpt-000030/optim.safetensors")))
        #expect(try snapshot(a) == before)

        let again = try ProcessRunner.run(
            Self.arguments(name: "b", folder: folder, steps: 30, extra: ["--resume", checkpoint, "--branch"]), timeout: 600)
        #expect(again.status != 0)
        #expect(again.errorOutput.contains("\(b.path) already holds a run"), "\(again.errorOutput)")
        let itself = try ProcessRunner.run(
            Self.arguments(name: "a", folder: folder, steps: 30, extra: ["--resume", checkpoint, "--branch"]), timeout: 600)
        #expect(itself.status != 0)
        #expect(itself.errorOutput.contains("--branch: \(a.path) is the checkpoint's own run folder"), "\(itself.errorOutput)")
        let alone = try ProcessRunner.run(Self.arguments(name: "c", folder: folder, steps: 30, extra: ["--branch"]), timeout: 600)
        #expect(alone.status != 0)
        #expect(alone.errorOutput.contains("--branch applies to --resume only"), "\(alone.errorOutput)")
        #expect(try snapshot(a) == before)
    }

    @Test("eval of a checkpoint reproduces the test loss logged at its step, on 1 and 3 ranks; bad input is one line")
    func evaluate() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("e")
        let first = try ProcessRunner.run(Self.arguments(name: "e", folder: folder, steps: 20), timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        let logged = try records(run).last!
        let (loggedLoss, loggedAccuracy) = (logged["testLoss"] as! Double, logged["testAccuracy"] as! Double)
        func measure(ranks: Int?) throws -> (Double, Double) {
            let result = try ProcessRunner.run(["eval", run.path, "--json"], ranks: ranks, timeout: 300)
            #expect(result.status == 0, "\(result.allOutput)")
            let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] ?? [:]
            #expect(object["step"] as? Int == 20)
            #expect(object["samples"] as? Int == 10_000)
            #expect(object["checkpoint"] as? String == run.appendingPathComponent("ckpt-000020").path)
            return (object["loss"] as? Double ?? .nan, object["accuracy"] as? Double ?? .nan)
        }
        // One rank repeats the arithmetic of the evaluation during training: equal to the bit.
        let single = try measure(ranks: nil)
        #expect(single.0 == loggedLoss && single.1 == loggedAccuracy, "\(single) against \((loggedLoss, loggedAccuracy))")
        // Three ranks sum their parts in another order and run smaller GEMMs: Float32 rounding
        // (1e-6 relative), and at most one of the 10,000 predictions may flip.
        let spread = try measure(ranks: 3)
        #expect(abs(spread.0 - loggedLoss) <= 1e-6 * loggedLoss, "\(spread.0) against \(loggedLoss)")
        #expect(abs(spread.1 - loggedAccuracy) <= 1e-4, "\(spread.1) against \(loggedAccuracy)")

        let incompatible = try ProcessRunner.run(["eval", run.path, "--set", "optimizer.type=adamw"])
        #expect(incompatible.status != 0)
        #expect(incompatible.errorOutput == "spectrain: error: \(run.path)/ckpt-000020/manifest.json: incompatible configuration: optimizer.type is adamw, the checkpoint's is spectral\n", "\(incompatible.errorOutput)")
        let missing = try ProcessRunner.run(["eval", folder.appendingPathComponent("nothing").path])
        #expect(missing.status != 0)
        #expect(missing.errorOutput.split(separator: "\n").count == 1, "\(missing.errorOutput)")
        #expect(missing.errorOutput.contains("nothing: "), "\(missing.errorOutput)")

        // A blown-up model (weights about 1e29, finite): its test loss is not finite, and --json
        // writes it as "inf" or "nan" instead of failing to encode.
        var blownUp = try CheckpointStore.read(run.appendingPathComponent("ckpt-000020").path)
        blownUp.model = blownUp.model.map { StoredTensor(name: $0.name, shape: $0.shape, floats: $0.floats.map { $0 * 1e30 }) }
        let blownFolder = folder.appendingPathComponent("blown")
        try CheckpointStore.write(blownUp, step: 20, runFolder: blownFolder.path, keep: 1)
        let diverged = try ProcessRunner.run(["eval", blownFolder.path, "--json"], timeout: 300)
        #expect(diverged.status == 0, "\(diverged.allOutput)")
        let object = try JSONSerialization.jsonObject(with: Data(diverged.output.utf8)) as? [String: Any] ?? [:]
        #expect(["inf", "nan"].contains(object["loss"] as? String ?? ""), "\(diverged.output)")
    }

    /// (saved on, resumed on) world sizes.
    static let reshards = [(2, 1), (1, 3)]

    @Test("resuming on another world size: the first resumed step sees the saved state, and training goes on converging",
          arguments: reshards)
    func otherWorldSize(saved: Int, resumed: Int) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = folder.appendingPathComponent("a")
        let b = folder.appendingPathComponent("b")
        let first = try ProcessRunner.run(Self.arguments(name: "a", folder: folder, steps: 40), ranks: saved == 1 ? nil : saved, timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        try copy(a, checkpoint: "ckpt-000020", to: b)
        let continued = try ProcessRunner.run(
            Self.arguments(name: "b", folder: folder, steps: 40, extra: ["--resume", b.path]), ranks: resumed == 1 ? nil : resumed, timeout: 600)
        #expect(continued.status == 0, "\(continued.allOutput)")
        let original = try records(a)
        let after = try records(b)
        #expect(after.count == original.count)
        // Step 21's loss is computed from the saved parameters on the same samples: only the
        // summation order over ranks differs (Float32 rounding, ~1e-7).
        let expected = original[20]["loss"] as! Double
        let observed = after[20]["loss"] as! Double
        #expect(after[20]["step"] as! Int == 21)
        #expect(abs(observed - expected) / expected < 1e-5, "\(observed) vs \(expected)")
        let testAtResume = after[19]["testLoss"] as! Double
        let testAtEnd = after[39]["testLoss"] as! Double
        #expect(testAtEnd < testAtResume, "test loss \(testAtResume) at step 20, \(testAtEnd) at step 40")
    }

    @Test("a process killed while writing a checkpoint leaves the previous one intact; resume picks it up")
    func killedDuringSave() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("k")
        let arguments = Self.arguments(name: "k", folder: folder, steps: 60).map { "'\($0)'" }.joined(separator: " ")
        let pending = run.appendingPathComponent("ckpt-000040.tmp/manifest.json").path
        let script = """
            SPECTRAIN_CHECKPOINT_PAUSE=40:60 "$SPECTRAIN" \(arguments) > \(folder.path)/out.txt 2>&1 &
            job=$!
            for i in $(seq 1 900); do [ -e \(pending) ] && break; sleep 0.2; done
            [ -e \(pending) ] || { echo "the save never started"; kill -9 $job; exit 90; }
            kill -9 $job
            wait $job
            echo "status=$?"
            """
        let killed = try ProcessRunner.runScript(script, timeout: 600)
        #expect(killed.output.contains("status=137"), "\(killed.allOutput)")
        #expect(try String(contentsOf: run.appendingPathComponent("latest"), encoding: .utf8) == "ckpt-000020\n")
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("ckpt-000040").path))
        let inspected = try ProcessRunner.run(["inspect", run.path])
        #expect(inspected.status == 0, "\(inspected.allOutput)")
        #expect(inspected.output.contains("step 20, epoch"))
        let configBefore = try Data(contentsOf: run.appendingPathComponent("config.json"))
        let linesBefore = try records(run)
        let resumed = try ProcessRunner.run(
            Self.arguments(name: "k", folder: folder, steps: 60, extra: ["--resume", run.path, "--set", "training.evalEvery=10"]), timeout: 600)
        #expect(resumed.status == 0, "\(resumed.allOutput)")
        #expect(resumed.output.contains("resumed from \(run.path)/ckpt-000020 at step 20"))
        // The lines the killed session logged after step 20 and its configuration are kept aside.
        let superseded = run.appendingPathComponent("metrics-superseded-at-step-20.jsonl")
        let supersededText = try String(contentsOf: superseded, encoding: .utf8)
        let supersededSteps = supersededText.split(separator: "\n").map {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int ?? -1
        }
        #expect(supersededSteps == Array(21...linesBefore.count), "\(supersededSteps)")
        #expect(linesBefore.count >= 40)
        #expect(resumed.output.contains("kept the \(linesBefore.count - 20) metrics lines logged after step 20 in \(superseded.path)"))
        #expect(try Data(contentsOf: run.appendingPathComponent("config-superseded-at-step-20.json")) == configBefore)
        #expect(try String(contentsOf: run.appendingPathComponent("config.json"), encoding: .utf8).contains(#""evalEvery" : 10"#))
        #expect(try records(run).map { $0["step"] as! Int } == Array(1...60))
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("ckpt-000040.tmp").path))
        #expect(try String(contentsOf: run.appendingPathComponent("latest"), encoding: .utf8) == "ckpt-000060\n")
    }

    /// A way to damage a checkpoint and the line the user must see.
    struct Damage: Sendable, CustomTestStringConvertible {
        var label: String
        var message: String
        var testDescription: String { label }
    }

    static let damages = [
        Damage(label: "not a safetensors file", message: "model.safetensors: not a safetensors file"),
        Damage(label: "not a spectrain checkpoint", message: "manifest.json: not a spectrain checkpoint (format 'something-else'"),
        Damage(label: "truncated", message: "optim.safetensors: truncated: the tensors need"),
        Damage(label: "header not JSON", message: "optim.safetensors: header is not JSON"),
        Damage(label: "tensor missing", message: "model.safetensors: tensor 'param/3_linear.bias' is missing"),
        Damage(label: "wrong shape", message: "model.safetensors: tensor 'param/1_linear.bias' is [31] F32, the model needs [32] F32"),
        Damage(label: "wrong dtype", message: "optim.safetensors: tensor 'optim/3_linear.weight/block0.L.counters' is [4] F32, expected [4] I64"),
        Damage(label: "checksum mismatch", message: "model.safetensors: tensor 'param/3_linear.weight': SHA-256 mismatch (the file is corrupt)"),
        Damage(label: "incompatible config", message: "manifest.json: incompatible configuration: optimizer.type is adamw, the checkpoint's is spectral"),
    ]

    @Test("every damaged checkpoint is a one-line error naming the file, and nothing in the run is changed",
          arguments: damages)
    func damaged(_ damage: Damage) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("d")
        let first = try ProcessRunner.run(Self.arguments(name: "d", folder: folder, steps: 20), timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        let checkpoint = run.appendingPathComponent("ckpt-000020")
        let model = checkpoint.appendingPathComponent("model.safetensors")
        let optim = checkpoint.appendingPathComponent("optim.safetensors")
        /// Replaces a tensor file and reseals the manifest (its tensor and file checksums, and
        /// manifest.sha256), so that only the damage under test remains.
        func rewrite(_ url: URL, _ change: (inout [StoredTensor]) -> Void) throws {
            let read = try CheckpointStore.read(checkpoint.path)
            var tensors = url == model ? read.model : read.optimizer
            change(&tensors)
            let bytes = SafeTensors.encode(tensors, metadata: ["format": CheckpointStore.format, "step": "20"])
            try Data(bytes).write(to: url)
            let manifestURL = checkpoint.appendingPathComponent("manifest.json")
            var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
            var listed = manifest["tensors"] as! [String: [String: String]]
            let file = url.lastPathComponent
            listed = listed.filter { $0.value["file"] != file }
            for tensor in tensors { listed[tensor.name] = ["file": file, "sha256": tensor.sha256] }
            manifest["tensors"] = listed
            var files = manifest["files"] as! [String: [String: String]]
            files[file] = ["sha256": SHA256.hex(bytes)]
            manifest["files"] = files
            let manifestBytes = try JSONSerialization.data(withJSONObject: manifest)
            try manifestBytes.write(to: manifestURL)
            try Data((SHA256.hex([UInt8](manifestBytes)) + "  manifest.json\n").utf8).write(to: checkpoint.appendingPathComponent("manifest.sha256"))
        }
        var extra: [String] = []
        switch damage.label {
        case "not a safetensors file":
            try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]).write(to: model)
        case "not a spectrain checkpoint":
            let url = checkpoint.appendingPathComponent("manifest.json")
            var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            manifest["format"] = "something-else"
            try JSONSerialization.data(withJSONObject: manifest).write(to: url)
        case "truncated":
            let bytes = try Data(contentsOf: optim)
            try bytes.prefix(bytes.count - 10).write(to: optim)
        case "header not JSON":
            var bytes = [UInt8](try Data(contentsOf: optim))
            bytes[8] = UInt8(ascii: "#")
            try Data(bytes).write(to: optim)
        case "tensor missing":
            try rewrite(model) { $0.removeAll { $0.name == "param/3_linear.bias" } }
        case "wrong shape":
            try rewrite(model) { tensors in
                let index = tensors.firstIndex { $0.name == "param/1_linear.bias" }!
                tensors[index] = StoredTensor(name: tensors[index].name, shape: [31], floats: Array(tensors[index].floats.prefix(31)))
            }
        case "wrong dtype":
            try rewrite(optim) { tensors in
                let index = tensors.firstIndex { $0.name == "optim/3_linear.weight/block0.L.counters" }!
                tensors[index] = StoredTensor(name: tensors[index].name, shape: [4], floats: [1, 0, 0, 0])
            }
        case "checksum mismatch":
            var bytes = [UInt8](try Data(contentsOf: model))
            bytes[bytes.count - 5] ^= 0x10
            try Data(bytes).write(to: model)
        default:
            extra = ["--set", "optimizer.type=adamw"]
        }
        let metricsBefore = try Data(contentsOf: run.appendingPathComponent("metrics.jsonl"))
        let configBefore = try Data(contentsOf: run.appendingPathComponent("config.json"))
        let result = try ProcessRunner.run(Self.arguments(name: "d", folder: folder, steps: 40, extra: extra + ["--resume", run.path]), timeout: 300)
        #expect(result.status != 0)
        #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        #expect(result.errorOutput.hasPrefix("spectrain: error: \(checkpoint.path)/"), "\(result.errorOutput)")
        #expect(result.errorOutput.contains(damage.message), "\(result.errorOutput)")
        #expect(try Data(contentsOf: run.appendingPathComponent("metrics.jsonl")) == metricsBefore)
        #expect(try Data(contentsOf: run.appendingPathComponent("config.json")) == configBefore)
        #expect(try String(contentsOf: run.appendingPathComponent("latest"), encoding: .utf8) == "ckpt-000020\n")
    }

    /// Whether python3 can import safetensors and numpy (.ci/run installs them with pip).
    static let pythonReadsSafetensors: Bool = {
        let probe = try? ProcessRunner.runScript("python3 -c 'import safetensors.numpy, numpy' 2>/dev/null && echo ok", timeout: 60)
        return probe?.output.contains("ok") ?? false
    }()

    @Test("Python's safetensors package reads the files, and the SHA-256 values match the manifest",
          .enabled(if: pythonReadsSafetensors, "needs python3 with safetensors and numpy: pip install safetensors numpy"))
    func python() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try ProcessRunner.run(Self.arguments(name: "p", folder: folder, steps: 20), ranks: 2, timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        let checkpoint = folder.appendingPathComponent("p/ckpt-000020").path
        let script = """
            python3 - <<'PY'
            import hashlib, json
            from safetensors.numpy import load_file
            folder = "\(checkpoint)"
            manifest = json.load(open(folder + "/manifest.json"))
            count = 0
            for name in ["model.safetensors", "optim.safetensors"]:
                for key, value in load_file(folder + "/" + name).items():
                    entry = manifest["tensors"][key]
                    assert entry["file"] == name, key
                    assert hashlib.sha256(value.tobytes()).hexdigest() == entry["sha256"], key
                    count += 1
            weight = load_file(folder + "/model.safetensors")["param/1_linear.weight"]
            print("verified", count, "tensors", weight.shape, weight.dtype)
            PY
            """
        let result = try ProcessRunner.runScript(script, timeout: 120)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.output.contains("(32, 784) float32"), "\(result.output)")
        #expect(result.output.hasPrefix("verified "))
    }

    @Test("Python's safetensors reads a BF16 tensor's type and shape, and its bytes widen to the Float32 values",
          .enabled(if: pythonReadsSafetensors, "needs python3 with safetensors and numpy: pip install safetensors numpy"))
    func pythonReadsBFloat16() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let values: [Float] = [1, -2.5, 0.15625, 3e38, -1e-3, 65504]
        let file = folder.appendingPathComponent("bf16.safetensors")
        let tensor = StoredTensor(name: "optim/w/block0.L.eigenvectors", shape: [2, 3], bfloat16Bits: values.map(BFloat16.bits(rounding:)))
        try Data(SafeTensors.encode([tensor], metadata: ["format": "pt"])).write(to: file)
        // numpy has no bfloat16: read the header with safe_open, the bytes by the data offsets.
        let script = """
            python3 - <<'PY'
            import json, struct, numpy
            from safetensors import safe_open
            path = "\(file.path)"
            with safe_open(path, framework="numpy") as f:
                part = f.get_slice("\(tensor.name)")
                print(part.get_dtype(), part.get_shape())
            raw = open(path, "rb").read()
            length = struct.unpack("<Q", raw[:8])[0]
            entry = json.loads(raw[8:8 + length])["\(tensor.name)"]
            begin, end = entry["data_offsets"]
            bits = numpy.frombuffer(raw[8 + length + begin:8 + length + end], dtype="<u2")
            print(" ".join(repr(float(v)) for v in (bits.astype("<u4") << 16).view("<f4")))
            PY
            """
        let result = try ProcessRunner.runScript(script, timeout: 120)
        #expect(result.status == 0, "\(result.allOutput)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.first == "BF16 [2, 3]", "\(result.output)")
        let read = lines.dropFirst().first?.split(separator: " ").compactMap { Double($0) } ?? []
        #expect(read == values.map { Double(BFloat16.rounded($0)) }, "\(result.output)")
    }

    @Test("inspect shows the step, the tensors and every factor's spectrum")
    func inspect() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try ProcessRunner.run(Self.arguments(name: "i", folder: folder, steps: 20), timeout: 600)
        #expect(first.status == 0, "\(first.allOutput)")
        let result = try ProcessRunner.run(["inspect", folder.appendingPathComponent("i/ckpt-000020").path])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.output.contains("step 20, epoch"))
        #expect(result.output.contains("optimizer spectral"))
        #expect(result.output.contains("param/1_linear.weight"))
        #expect(result.output.contains("optim/1_linear.weight#r0c3/block0.R.eigenvectors  F32    [196, 196]"), "\(result.output)")
        #expect(result.output.contains("curvature factors:"))

        // With bfloat16 state the eigenvectors are BF16 and take half the bytes; the eigenvalues stay F32.
        let halved = try ProcessRunner.run(
            Self.arguments(name: "h", folder: folder, steps: 20) + ["--set", "optimizer.preconditioner.stateDType=bfloat16"], timeout: 600)
        #expect(halved.status == 0, "\(halved.allOutput)")
        let halvedInspect = try ProcessRunner.run(["inspect", folder.appendingPathComponent("h/ckpt-000020").path])
        #expect(halvedInspect.output.contains("optim/1_linear.weight#r0c3/block0.R.eigenvectors  BF16   [196, 196]"), "\(halvedInspect.output)")
        // "factor state: T bytes (F32 T)" and "factor state: T' bytes (F32 a, BF16 b)".
        func bytes(_ output: String) -> [String: Int] {
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("factor state: ") }) else { return [:] }
            return Dictionary(uniqueKeysWithValues: line.matches(of: /(F32|BF16) ([0-9]+)/).map { (String($0.1), Int($0.2)!) })
        }
        let (full, half) = (bytes(result.output), bytes(halvedInspect.output))
        #expect(full.keys.sorted() == ["F32"] && half.keys.sorted() == ["BF16", "F32"], "\(full) \(half)")
        #expect(2 * (half["BF16"] ?? 0) == (full["F32"] ?? 0) - (half["F32"] ?? 0), "eigenvector bytes halve: \(full) \(half)")
    }
}
