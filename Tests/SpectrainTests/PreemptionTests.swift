import Checkpoint
import Foundation
import Testing

/// Preemption as a cluster does it: a signal mid-training, a checkpoint, exit status 75, and
/// `--resume auto` continuing as if nothing had happened.
@Suite("preemption", .serialized, .enabled(if: FileManager.default.fileExists(atPath: TrainCommandTests.fashionMNIST), "needs the Debian package dataset-fashion-mnist"))
struct PreemptionTests {
    static let steps = 60

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-preempt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// The shell words of a small training job in `folder`, named `name`.
    func command(_ folder: URL, name: String, extra: [String] = []) -> String {
        let arguments = DistributedTrainingTests.arguments(name: name, folder: folder, steps: Self.steps, extra: [
            "--set", "checkpoint.everySteps=20", "--resume", "auto",
        ] + extra)
        return arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    }

    /// The SHA-256 of every parameter tensor of a checkpoint, as its manifest lists them.
    func parameterChecksums(_ checkpoint: URL) throws -> [String: String] {
        let contents = try CheckpointStore.read(checkpoint.path)
        return Dictionary(uniqueKeysWithValues: contents.model.map { ($0.name, $0.sha256) })
    }

    func losses(_ run: URL) throws -> [String] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return "\(record["step"]!) \(record["loss"]!) \(record["testLoss"] ?? "-")"
        }
    }

    @Test("mpirun -np 2, SIGUSR1 to mpirun mid-run: a complete checkpoint, exit 75; --resume auto ends bit-identical to an uninterrupted run")
    func signalUnderMPI() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let mpirun = "mpirun -np 2 --oversubscribe" + (getuid() == 0 ? " --allow-run-as-root" : "")
        let stopped = folder.appendingPathComponent("stopped")
        // The signal goes to mpirun itself, as Slurm's batch script forwards it, once the run has
        // logged its first line (step 10 of 60). A test runs on a thread that blocks signals and
        // its children inherit the mask: mpirun starts with a clean one, as from a shell.
        let script = """
            \(Self.unblocked)
            \(mpirun) "$SPECTRAIN" \(command(folder, name: "straight")) > '\(folder.path)/straight.out' 2>&1 || { echo "uninterrupted run failed"; cat '\(folder.path)/straight.out'; exit 1; }
            "${unblocked[@]}" \(mpirun) "$SPECTRAIN" \(command(folder, name: "stopped")) > '\(folder.path)/first.out' 2>&1 &
            job=$!
            for _ in $(seq 1 1200); do [ -s '\(stopped.path)/metrics.jsonl' ] && break; sleep 0.05; done
            kill -USR1 $job
            wait $job
            echo "first status $?"
            cat '\(folder.path)/first.out'
            \(mpirun) "$SPECTRAIN" \(command(folder, name: "stopped")) > '\(folder.path)/second.out' 2>&1
            echo "second status $?"
            cat '\(folder.path)/second.out'
            """
        let result = try ProcessRunner.runScript(script, timeout: 600)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.output.contains("first status 75"), "\(result.allOutput)")
        #expect(result.output.contains("second status 0"), "\(result.allOutput)")
        let stopLine = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("spectrain: stopped by SIGUSR1 after step ") })
        let stopStep = try #require(Int(stopLine.dropFirst("spectrain: stopped by SIGUSR1 after step ".count).prefix { $0.isNumber }))
        #expect(stopStep > 0 && stopStep < Self.steps)
        #expect(result.output.contains("resumed from \(stopped.path)/\(CheckpointStore.folderName(step: stopStep)) at step \(stopStep)"))
        let end = CheckpointStore.folderName(step: Self.steps)
        let expected = try parameterChecksums(folder.appendingPathComponent("straight").appendingPathComponent(end))
        #expect(try parameterChecksums(stopped.appendingPathComponent(end)) == expected)
        #expect(try losses(stopped) == (try losses(folder.appendingPathComponent("straight"))))
    }

    /// A shell array that runs the command after it with no signal blocked or ignored, in the
    /// same process (exec), so that `$!` is the command's own pid.
    static let unblocked = """
        unblocked=(python3 -c 'import os, signal, sys
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1): signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execvp(sys.argv[1], sys.argv[1:])')
        """

    @Test("one process, SIGTERM: a checkpoint at the next step and exit 75, without help from the parent's signal mask")
    func signalDirect() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("direct")
        let script = """
            "$SPECTRAIN" \(command(folder, name: "direct", extra: ["--set", "training.maxSteps=100000"])) > '\(folder.path)/out' 2>&1 &
            job=$!
            for _ in $(seq 1 1200); do [ -s '\(run.path)/metrics.jsonl' ] && break; sleep 0.05; done
            kill -TERM $job
            wait $job
            echo "status $?"
            cat '\(folder.path)/out'
            """
        let result = try ProcessRunner.runScript(script, timeout: 300)
        #expect(result.output.contains("status 75"), "\(result.allOutput)")
        #expect(result.output.contains("spectrain: stopped by SIGTERM after step "), "\(result.allOutput)")
        let latest = try String(contentsOf: run.appendingPathComponent("latest"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try CheckpointStore.read(run.appendingPathComponent(latest).path)
    }
}
