import Checkpoint
import Cluster
import Foundation
import Optim
import Spectral
import Synchronization
import Testing
@testable import Train

/// The divergence rule on its own: what counts as a spike, and what the running level does.
@Suite("Loss health")
struct LossHealthTests {
    static let factor = 10.0

    func feed(_ losses: [Double], into health: inout LossHealth, from step: Int = 1) {
        for (offset, loss) in losses.enumerated() {
            health.record(loss: loss, finite: loss.isFinite, step: step + offset, divergenceFactor: Self.factor)
        }
    }

    @Test("a steadily falling or noisy loss is never a spike; a checkpoint then is healthy")
    func healthyLoss() {
        var health = LossHealth()
        // A falling loss with +-50% batch noise, well inside a factor of 10.
        let losses = (0..<500).map { (step: Int) -> Double in
            let noise = step % 2 == 0 ? 1.5 : 0.5
            return 2.3 * exp(-Double(step) / 150) * noise + 0.01
        }
        feed(losses, into: &health)
        #expect(health.spikeStartStep == nil)
        #expect(health.judgeCheckpoint(divergenceFactor: Self.factor) == nil)
    }

    @Test("a blow-up is a spike from the step the recent loss passes the factor; the level does not follow it")
    func spike() {
        var health = LossHealth()
        feed(Array(repeating: 0.5, count: 50), into: &health)
        let level = health.runningLevel
        feed([1e3, 1e6, 1e12], into: &health, from: 51)
        // The recent average (weight 0.1) passes 10 x 0.5 at the first blown-up step: 0.45 + 100.
        #expect(health.spikeStartStep == 51)
        #expect(health.runningLevel == level)
        let reason = health.judgeCheckpoint(divergenceFactor: Self.factor)
        #expect(reason?.contains("spiked at step 51") == true, "\(String(describing: reason))")
        // Still spiked at the next checkpoint: a blown-up run never looks healthy again by itself.
        feed([1e12], into: &health, from: 54)
        #expect(health.judgeCheckpoint(divergenceFactor: Self.factor) != nil)
    }

    @Test("a non-finite step makes the next checkpoint unhealthy, and only that one")
    func nonFinite() {
        var health = LossHealth()
        feed(Array(repeating: 0.5, count: 20), into: &health)
        feed([.nan], into: &health, from: 21)
        feed([0.5, 0.5], into: &health, from: 22)
        #expect(health.judgeCheckpoint(divergenceFactor: Self.factor)?.contains("not finite at step 21") == true)
        #expect(health.judgeCheckpoint(divergenceFactor: Self.factor) == nil)
    }

    @Test("no spike during the warm-up, when the level is a handful of steps")
    func warmup() {
        var health = LossHealth()
        feed([0.01, 100, 100, 100, 100], into: &health)
        #expect(health.spikeStartStep == nil)
    }
}

/// Divergence, preemption, `--resume auto` and untrusted manifests, on the synthetic task.
@Suite("Reliability", .serialized)
struct ReliabilityTests {
    static func spectralConfig(_ data: SyntheticData, name: String = "run") -> TrainConfig {
        var config = data.config(optimizer: TrainerTests.optimizer(.spectral), name: name)
        config.training.maxSteps = 24
        config.checkpoint.everySteps = 4
        config.checkpoint.keep = 1
        return config
    }

    static func run(
        _ config: TrainConfig, resume: String? = nil, stopRequest: StopRequest = StopRequest { _ in nil }
    ) throws(TrainError) -> (summary: TrainSummary, lines: [String]) {
        let lines = Mutex<[String]>([])
        let summary = try TrainingRun.execute(
            config: config, communicator: SingleProcessCommunicator(), resume: resume, stopRequest: stopRequest
        ) { line in lines.withLock { $0.append(line) } }
        return (summary, lines.withLock { $0 })
    }

    static func pointer(_ name: String, in folder: String) -> String? {
        (try? String(contentsOfFile: (folder as NSString).appendingPathComponent(name), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func modelChecksums(_ checkpoint: String) throws -> [String: String] {
        let contents = try CheckpointStore.read(checkpoint)
        return Dictionary(uniqueKeysWithValues: contents.model.map { ($0.name, $0.sha256) })
    }

    /// "name dtype: checksum" of every optimizer state tensor of a checkpoint.
    static func optimizerChecksums(_ checkpoint: String) throws -> [String] {
        try CheckpointStore.read(checkpoint).optimizer.map { "\($0.name) \($0.dtype.rawValue): \($0.sha256)" }
    }

    @Test("a run whose learning rate explodes: no checkpoint holds a non-finite value, 'latest' and 'best' name checkpoints from before the blow-up, and rotation keeps them")
    func divergence() throws {
        let data = try SyntheticData(mislabelledEvery: 5)
        defer { data.remove() }
        var config = Self.spectralConfig(data)
        // SGD at 0.1 for 12 steps, then, resumed with a learning rate of 1e4, the loss blows up.
        config.optimizer = TrainerTests.optimizer(.sgd)
        config.training.maxSteps = 40
        config.training.maxNonFiniteSteps = 1_000
        let healthySteps = 12
        _ = try Self.run({ var short = config; short.training.maxSteps = healthySteps; return short }())
        var exploding = config
        exploding.optimizer.learningRate = 1e4
        let (_, lines) = try Self.run(exploding, resume: config.runPath)
        let folder = config.runPath
        let checkpoints = CheckpointStore.checkpoints(in: folder)
        for name in checkpoints {
            let contents = try CheckpointStore.read((folder as NSString).appendingPathComponent(name))
            #expect(CheckpointHealth.nonFiniteTensor(in: contents) == nil, "\(name) holds a non-finite value")
        }
        let latest = try #require(Self.pointer("latest", in: folder))
        let best = try #require(Self.pointer("best", in: folder))
        let curve = try readMetrics(folder).map { "\($0.step): \($0.loss)" }.joined(separator: ", ")
        #expect(latest == CheckpointStore.folderName(step: healthySteps), "latest is \(latest) after the blow-up; losses \(curve)")
        #expect(best <= CheckpointStore.folderName(step: healthySteps))
        #expect(checkpoints.contains(latest) && checkpoints.contains(best), "rotation (keep 1) removed \(latest) or \(best): \(checkpoints)")
        #expect(lines.contains { $0.contains("not healthy") || $0.contains("not written") }, "no line says a checkpoint was unhealthy")
        // The healthy checkpoint continues: resuming from the run folder picks it.
        let resumed = try Self.run({ var again = config; again.training.maxSteps = healthySteps + 8; return again }(), resume: folder)
        #expect(resumed.lines.contains { $0.contains("resumed from") && $0.contains(latest) })
    }

    @Test("a stop request at step 9 saves a checkpoint and stops; --resume auto then ends bit-identical to an uninterrupted run",
          arguments: [(1, StateDType.float32), (2, .float32), (2, .bfloat16)])
    func stopAndResume(ranks: Int, stateDType: StateDType) throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var straight = Self.spectralConfig(data, name: "straight")
        straight.optimizer.preconditioner.stateDType = stateDType
        var stopped = straight
        stopped.name = "stopped"
        func execute(_ config: TrainConfig, resume: String?, stopAt: Int?) throws -> [TrainError?] {
            try ThreadCommunicator.run(ranks: ranks) { communicator -> TrainError? in
                do {
                    _ = try TrainingRun.execute(
                        config: config, communicator: communicator, resume: resume,
                        stopRequest: StopRequest { step in stopAt.map { step >= $0 && communicator.rank == ranks - 1 ? SIGUSR1 : nil } ?? nil }
                    ) { _ in }
                    return nil
                } catch let error as TrainError {
                    return error
                }
            }
        }
        #expect(try execute(straight, resume: nil, stopAt: nil).allSatisfy { $0 == nil })
        let stop = try execute(stopped, resume: TrainingRun.automaticResume, stopAt: 9)
        let rootStop = try #require(stop[0]?.stopped, "rank 0 did not stop: \(String(describing: stop[0]))")
        #expect(stop.allSatisfy { $0?.stopped != nil })
        // The request is seen before step 10 (0-based 9) begins and honoured after it.
        #expect(rootStop.step == 10)
        #expect(rootStop.checkpoint?.hasSuffix(CheckpointStore.folderName(step: 10)) == true)
        #expect(Self.pointer("latest", in: stopped.runPath) == CheckpointStore.folderName(step: 10))
        #expect(try execute(stopped, resume: TrainingRun.automaticResume, stopAt: nil).allSatisfy { $0 == nil })
        let end = CheckpointStore.folderName(step: 24)
        let expected = try Self.modelChecksums((straight.runPath as NSString).appendingPathComponent(end))
        let actual = try Self.modelChecksums((stopped.runPath as NSString).appendingPathComponent(end))
        #expect(actual == expected)
        let optimizerState = try Self.optimizerChecksums((stopped.runPath as NSString).appendingPathComponent(end))
        #expect(optimizerState == (try Self.optimizerChecksums((straight.runPath as NSString).appendingPathComponent(end))))
        #expect(optimizerState.contains { $0.contains("eigenvectors BF16") } == (stateDType == .bfloat16))
        let losses = try readMetrics(stopped.runPath).map(\.loss)
        #expect(losses == (try readMetrics(straight.runPath).map(\.loss)))
    }

    @Test("resuming with another stateDType than the checkpoint's is one error that names the tensor and the field")
    func resumeWithOtherStateDType() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = Self.spectralConfig(data, name: "halved")
        config.optimizer.preconditioner.stateDType = .bfloat16
        config.training.maxSteps = 4
        _ = try Self.run(config)
        config.optimizer.preconditioner.stateDType = .float32
        config.training.maxSteps = 8
        #expect {
            try Self.run(config, resume: config.runPath)
        } throws: { error in
            let text = "\(error)"
            return text.contains("eigenvectors' is [") && text.contains("BF16, expected") && text.contains("optimizer.preconditioner.stateDType")
        }
    }

    @Test("--resume auto on a folder without checkpoints starts afresh and keeps the earlier metrics aside")
    func autoWithoutCheckpoint() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = Self.spectralConfig(data)
        config.checkpoint.everySteps = 0
        config.checkpoint.atEnd = false
        _ = try Self.run(config)
        let before = try readMetrics(config.runPath).count
        let (summary, lines) = try Self.run(config, resume: TrainingRun.automaticResume)
        #expect(summary.steps == 24)
        #expect(lines.contains { $0.contains("holds no checkpoint; starting the run afresh") })
        #expect(try readMetrics(config.runPath).count == before)
        let aside = try FileManager.default.contentsOfDirectory(atPath: config.runPath).filter { $0.hasPrefix("metrics-superseded") }
        #expect(aside.count == 1)
    }

    @Test("--resume auto past a damaged 'latest' or a damaged newest checkpoint: the newest complete one, said so")
    func autoFallsBack() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        var config = Self.spectralConfig(data)
        config.checkpoint.keep = 3
        config.training.maxSteps = 12
        _ = try Self.run(config)
        let folder = config.runPath
        // ckpt-000012 damaged: one flipped byte in its model file.
        let model = (folder as NSString).appendingPathComponent("\(CheckpointStore.folderName(step: 12))/model.safetensors")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: model)))
        bytes[bytes.count - 3] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: model))
        config.training.maxSteps = 16
        let (summary, lines) = try Self.run(config, resume: TrainingRun.automaticResume)
        #expect(summary.steps == 16)
        #expect(lines.contains { $0.contains("continuing from the newest complete healthy checkpoint") && $0.contains(CheckpointStore.folderName(step: 8)) })
    }

    /// A run of 8 steps, its checkpoint at step 8 read back, and the configuration that would
    /// continue it to step 12: the start of the tests that tamper with a checkpoint.
    static func savedAtStep8(_ data: SyntheticData) throws -> (config: TrainConfig, saved: CheckpointContents, continued: TrainConfig) {
        var config = spectralConfig(data)
        config.training.maxSteps = 8
        _ = try run(config)
        let saved = try CheckpointStore.read((config.runPath as NSString).appendingPathComponent(CheckpointStore.folderName(step: 8)))
        var continued = config
        continued.training.maxSteps = 12
        return (config, saved, continued)
    }

    @Test("a manifest whose progress is out of range is refused before the run folder changes")
    func untrustedProgress() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let (config, original, more) = try Self.savedAtStep8(data)
        let edits: [(String, JSONValue, String)] = [
            ("windowSamples", .number(-5), "windowSamples"), ("skippedSteps", .number(-1), "skippedSteps"),
            ("bestStep", .number(1e15), "bestStep"), ("elapsedSeconds", .string("inf"), "elapsedSeconds"),
            ("windowCorrect", .number(1e9), "windowCorrect"),
        ]
        let metricsPath = (config.runPath as NSString).appendingPathComponent("metrics.jsonl")
        let metricsBefore = try Data(contentsOf: URL(fileURLWithPath: metricsPath))
        for (field, value, named) in edits {
            var contents = original
            guard case .object(var progress)? = contents.manifest["progress"] else { Issue.record("no progress"); return }
            progress[field] = value
            contents.manifest["progress"] = .object(progress)
            try CheckpointStore.write(contents, step: 8, runFolder: config.runPath, keep: 1)
            let error = #expect(throws: TrainError.self) { _ = try Self.run(more, resume: config.runPath) }
            #expect(error?.message.contains(named) == true && error?.message.contains("\n") == false, "\(String(describing: error))")
            #expect(try Data(contentsOf: URL(fileURLWithPath: metricsPath)) == metricsBefore, "the run folder changed before \(field) was refused")
        }
    }

    @Test("a checkpoint with an infinite weight or zeroed eigenvectors is refused, naming the tensor")
    func untrustedState() throws {
        let data = try SyntheticData()
        defer { data.remove() }
        let (_, original, more) = try Self.savedAtStep8(data)
        func refused(_ edit: (inout CheckpointContents) -> String) throws {
            var contents = original
            let tensor = edit(&contents)
            let scratch = (NSTemporaryDirectory() as NSString).appendingPathComponent("spectrain-edit-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let edited = try CheckpointStore.write(contents, step: 8, runFolder: scratch, keep: 1)
            let error = #expect(throws: TrainError.self) { _ = try Self.run(more, resume: edited) }
            #expect(error?.message.contains(tensor) == true, "\(String(describing: error))")
        }
        try refused { contents in
            var floats = contents.model[0].floats
            floats[3] = .infinity
            contents.model[0] = StoredTensor(name: contents.model[0].name, shape: contents.model[0].shape, floats: floats)
            return contents.model[0].name
        }
        try refused { contents in
            let index = contents.optimizer.firstIndex { $0.name.hasSuffix(".eigenvectors") }!
            let tensor = contents.optimizer[index]
            contents.optimizer[index] = StoredTensor(name: tensor.name, shape: tensor.shape, floats: [Float](repeating: 0, count: tensor.floats.count))
            return tensor.name
        }
    }

    @Test("NaN and infinity in the progress and the summary are written as \"nan\"/\"inf\", not an encoding failure")
    func nonFiniteJSON() throws {
        let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("spectrain-summary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let summary = TrainSummary(
            steps: 1, epochs: 1, seconds: 1, trainingSeconds: 0, samplesPerSecond: .infinity, finalTestLoss: .nan,
            finalTestAccuracy: .nan, bestTestAccuracy: -1, bestStep: 0, skippedSteps: 1, time: StepTimes())
        try TrainingRun.write(summary, folder: folder)
        let text = try String(contentsOfFile: (folder as NSString).appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(text.contains("\"finalTestLoss\" : \"nan\"") && text.contains("\"samplesPerSecond\" : \"inf\""), "\(text)")
        var progress = TrainingProgress()
        progress.windowLossSum = .nan
        progress.lastTestLoss = .infinity
        let value = try CheckpointManifest.jsonValue(progress)
        #expect(value["windowLossSum"] == .string("nan"))
        #expect(value["lastTestLoss"] == .string("inf"))
    }
}

