import Foundation
import Testing

/// Distributed training with real mpirun: sharded optimizer state, equivalence with one process,
/// the replica check, re-planning, and a rank killed mid-run.
@Suite("distributed training", .serialized, .enabled(if: FileManager.default.fileExists(atPath: TrainCommandTests.fashionMNIST), "needs the Debian package dataset-fashion-mnist"))
struct DistributedTrainingTests {
    /// A small, fast variant of the shipped MLP: hidden 32, batch 60, the 784-wide factor split
    /// into 4 blocks of 196.
    static func arguments(name: String, folder: URL, steps: Int, extra: [String] = []) -> [String] {
        ["train", CommandTests.config("fashion-mlp.json"),
         "--set", "name=\(name)", "--set", "runDirectory=\(folder.path)",
         "--set", #"model.layers=[{"type":"flatten"},{"type":"linear","outputs":32},{"type":"relu"},{"type":"linear","outputs":10}]"#,
         "--set", "optimizer.preconditioner.maxFactorDimension=200",
         "--set", "training.batchSize=60", "--set", "training.maxSteps=\(steps)", "--set", "training.logEvery=10",
         "--set", "training.evalEvery=50", "--set", "training.evalBatchSize=2000"] + extra
    }

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-dist-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// (loss, test loss or nil) per metrics line.
    func curve(_ folder: URL) throws -> [(Double, Double?)] {
        let text = try String(contentsOf: folder.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (object["loss"] as! Double, object["testLoss"] as? Double)
        }
    }

    /// The largest relative difference between two loss curves of the same length.
    func largestDifference(_ a: [(Double, Double?)], _ b: [(Double, Double?)]) -> Double {
        precondition(a.count == b.count)
        var largest = 0.0
        for (x, y) in zip(a, b) {
            largest = max(largest, abs(x.0 - y.0) / abs(x.0))
            if let tx = x.1, let ty = y.1 { largest = max(largest, abs(tx - ty) / abs(tx)) }
        }
        return largest
    }

    /// Ranks add their partial gradients in a different order than one process sums a whole
    /// batch, so losses differ by Float32 rounding (about 1e-8 after 100 steps, measured). 1e-5
    /// leaves room for that and still catches any real error in the data path: a missing shard, a
    /// stale parameter or a wrong sample moves the loss by 1e-3 or more.
    static let tolerance = 1e-5

    @Test("-np 1, 2 and 3 train the same model: loss curves agree to 1e-5 after 100 steps",
          arguments: ["spectral", "adamw", "eigenShampoo"])
    func equivalence(optimizer: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var curves: [[(Double, Double?)]] = []
        var healths: [[String: [String: Any]]] = []
        for ranks in [1, 2, 3] {
            let result = try ProcessRunner.run(
                Self.arguments(name: "np\(ranks)", folder: folder, steps: 100,
                               // AdamW: 128 KB buckets (32,768 floats) put the first layer's row
                               // bands (25,088 elements) in one direct bucket, reduced and gathered
                               // in place by every owner.
                               extra: ["--set", "optimizer.type=\(optimizer)", "--set", "training.healthEvery=100"]
                                   + (optimizer == "adamw" ? ["--set", "distributed.bucketMegabytes=0.125"] : [])),
                ranks: ranks == 1 ? nil : ranks, timeout: 600)
            #expect(result.status == 0, "\(result.allOutput)")
            curves.append(try curve(folder.appendingPathComponent("np\(ranks)")))
            healths.append(try lastHealth(folder.appendingPathComponent("np\(ranks)")))
            if ranks > 1 {
                #expect(result.output.contains("ownership plan over \(ranks) ranks"))
                // The default overlap setting says what it chose and why.
                #expect(result.output.contains("distributed.overlap auto -> "))
            }
        }
        #expect(curves[0].count == 10)
        #expect(largestDifference(curves[0], curves[1]) < Self.tolerance)
        #expect(largestDifference(curves[0], curves[2]) < Self.tolerance)
        // Rank 0 logs the health of every factor, also those other ranks own. The eigenvalues of
        // one factor agree across world sizes to the training's rounding (1e-3 is far above it and
        // far below the gaps between different factors, so a factor logged under the wrong name
        // or taken from a stale state fails).
        // Health is measured for spectral factors: 4 column blocks of the first weight and the
        // second weight, each with a left and a right factor.
        if optimizer == "spectral" {
            #expect(healths[0].count == 10, "\(healths[0].keys.sorted())")
            for other in healths.dropFirst() {
                #expect(Set(other.keys) == Set(healths[0].keys))
                for (name, reference) in healths[0] {
                    for field in ["minEigenvalue", "maxEigenvalue"] {
                        let (x, y) = (reference[field] as? Double ?? .nan, other[name]?[field] as? Double ?? .nan)
                        #expect(abs(x - y) <= 1e-3 * abs(x), "\(name) \(field): \(x) against \(y)")
                    }
                }
            }
        }
    }

    /// The health of the last metrics line that has it, per factor.
    func lastHealth(_ folder: URL) throws -> [String: [String: Any]] {
        let text = try String(contentsOf: folder.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let objects = try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        return objects.last { $0["health"] != nil }?["health"] as? [String: [String: Any]] ?? [:]
    }

    @Test("allreduce mode and re-planning from measured times give the same curve as one process")
    func allreduceAndReplan() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let single = try ProcessRunner.run(Self.arguments(name: "single", folder: folder, steps: 40), timeout: 600)
        #expect(single.status == 0, "\(single.allOutput)")
        let allreduce = try ProcessRunner.run(
            Self.arguments(name: "allreduce", folder: folder, steps: 40, extra: ["--set", "distributed.reduction=allreduce"]),
            ranks: 2, timeout: 600)
        #expect(allreduce.status == 0, "\(allreduce.allOutput)")
        // Re-planning moves the optimizer state (curvature factors, moments) of tensors whose owner
        // changes; a wrong move would show in the losses after step 8.
        let replanned = try ProcessRunner.run(
            Self.arguments(name: "replan", folder: folder, steps: 40, extra: ["--set", "distributed.replan=true", "--set", "distributed.replanAfterSteps=8"]),
            ranks: 3, timeout: 600)
        #expect(replanned.status == 0, "\(replanned.allOutput)")
        #expect(replanned.output.contains("re-planned ownership at step 8"))
        let reference = try curve(folder.appendingPathComponent("single"))
        #expect(largestDifference(reference, try curve(folder.appendingPathComponent("allreduce"))) < Self.tolerance)
        #expect(largestDifference(reference, try curve(folder.appendingPathComponent("replan"))) < Self.tolerance)
    }

    @Test("overlapped communication computes the same bits as waiting for each collective, on 2 and 3 ranks, in Float32 and bfloat16 on the wire; the overlapped run reports hidden communication",
          arguments: [(2, "float32"), (3, "float32"), (2, "bfloat16")])
    func overlap(ranks: Int, exchangeDType: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var hidden: [String: Double] = [:]
        for overlap in ["false", "true"] {
            // 64 KB buckets: the 32 x 784 blocks and the small layers fall into several buckets.
            // The replica check every 7 steps ends the job if the bfloat16 steps left replicas apart.
            let result = try ProcessRunner.run(
                Self.arguments(name: "overlap-\(overlap)", folder: folder, steps: 40, extra: [
                    "--set", "distributed.overlap=\(overlap)", "--set", "distributed.bucketMegabytes=0.0625",
                    "--set", "distributed.replicaCheckEvery=7", "--set", "distributed.exchangeDType=\(exchangeDType)"]),
                ranks: ranks, timeout: 600)
            #expect(result.status == 0, "\(result.allOutput)")
            let text = try String(contentsOf: folder.appendingPathComponent("overlap-\(overlap)/metrics.jsonl"), encoding: .utf8)
            hidden[overlap] = try text.split(separator: "\n").reduce(0.0) { sum, line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return sum + ((object["time"] as? [String: Any])?["communicationHidden"] as? Double ?? 0)
            }
        }
        let (waited, overlapped) = (try curve(folder.appendingPathComponent("overlap-false")), try curve(folder.appendingPathComponent("overlap-true")))
        #expect(waited.count == 4)
        #expect(largestDifference(waited, overlapped) == 0, "\(waited) against \(overlapped)")
        #expect(hidden["false"] == 0)
        #expect(hidden["true"]! > 0)
    }

    @Test("a replica that diverges is caught by the replica check, naming the tensor")
    func replicaCheck() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try ProcessRunner.run(
            Self.arguments(name: "diverged", folder: folder, steps: 20, extra: ["--set", "distributed.replicaCheckEvery=5"]),
            ranks: 2, timeout: 300, environment: ["SPECTRAIN_PERTURB_REPLICA": "1:5:2"])
        #expect(result.status != 0)
        #expect(result.errorOutput.contains("replicas diverged: at step 5 parameter tensor 3_linear.weight differs between ranks"), "\(result.errorOutput)")
    }

    @Test("a rank killed with SIGKILL mid-run ends the whole job non-zero within 30 seconds")
    func killedRank() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = Self.arguments(name: "killed", folder: folder, steps: 100_000).map { "'\($0)'" }.joined(separator: " ")
        let metrics = folder.appendingPathComponent("killed/metrics.jsonl").path
        let script = """
            mpirun_np 2 "$SPECTRAIN" \(arguments) > \(folder.path)/out.txt 2>&1 &
            job=$!
            for i in $(seq 1 600); do [ -s \(metrics) ] && break; sleep 0.2; done
            [ -s \(metrics) ] || { echo "never started"; kill -9 $job; exit 90; }
            victim=$(for p in $(pgrep -x spectrain); do tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -qF '\(folder.path)' && echo $p; done | tail -1)
            [ -n "$victim" ] || { echo "no rank of this job found"; kill -9 $job; exit 91; }
            kill -9 $victim
            start=$(date +%s%N)
            wait $job
            status=$?
            end=$(date +%s%N)
            echo "status=$status seconds=$(( (end - start) / 1000000000 ))"
            """
        let result = try ProcessRunner.runScript(script, timeout: 600)
        let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(line.hasPrefix("status="), "\(result.allOutput)")
        let fields = Dictionary(uniqueKeysWithValues: line.split(separator: " ").compactMap { field -> (String, String)? in
            let parts = field.split(separator: "=")
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        })
        #expect(fields["status"].flatMap(Int.init).map { $0 != 0 } == true, "\(line)")
        #expect(fields["seconds"].flatMap(Double.init).map { $0 < 30 } == true, "\(line)")
    }

    @Test("a rank that hangs outside MPI ends the job through the stall watchdog, with the phase of each rank")
    func stalledRank() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let start = Date()
        let result = try ProcessRunner.run(
            Self.arguments(name: "stalled", folder: folder, steps: 1000, extra: ["--set", "distributed.stallTimeoutSeconds=3"]),
            ranks: 2, timeout: 300, environment: ["SPECTRAIN_STALL": "1:6"])
        #expect(result.status != 0)
        #expect(Date().timeIntervalSince(start) < 120)
        // Rank 1 hangs computing step 6; rank 0 waits for it in the gradient exchange. Whichever
        // watchdog fires first ends the job, so at least one of the two lines is there.
        let lines = result.errorOutput.split(separator: "\n").filter { $0.contains("no progress for") }
        #expect(!lines.isEmpty, "\(result.errorOutput)")
        for line in lines {
            #expect(line.hasSuffix("ending the job (distributed.stallTimeoutSeconds is 3)"), "\(line)")
            #expect(line.contains("rank 1: no progress for") && line.contains("stuck in the forward and backward of step 6")
                    || line.contains("rank 0: no progress for") && line.contains("stuck in the gradient exchange of step 6"), "\(line)")
        }

        let bad = try ProcessRunner.run(Self.arguments(name: "bad", folder: folder, steps: 10, extra: ["--set", "distributed.stallTimeoutSeconds=-1"]))
        #expect(bad.status != 0)
        #expect(bad.errorOutput.contains("field 'distributed.stallTimeoutSeconds': must be >= 0 seconds (0: never), got -1.0"), "\(bad.errorOutput)")
    }

    @Test("--plan-only prints the ownership plan for any number of ranks")
    func planOnly() throws {
        let result = try ProcessRunner.run(["train", CommandTests.config("fashion-cnn.json"), "--plan-only", "--ranks", "3"])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.output.hasPrefix("ownership plan over 3 ranks (spectral):"))
        #expect(result.output.contains("7_linear.weight#r0c6  [128, 448]"))
        #expect(result.output.contains("imbalance"))
        #expect(!result.output.contains("note:"))

        // The shipped MLP's 784-wide factor is one shard no plan over 2 ranks can balance; the
        // plan says so and names the setting that splits it, and with that setting it is quiet.
        let single = try ProcessRunner.run(["train", CommandTests.config("fashion-mlp.json"), "--plan-only", "--ranks", "2",
                                            "--set", "optimizer.preconditioner.maxFactorDimension=1024"])
        #expect(single.status == 0, "\(single.allOutput)")
        #expect(single.output.contains("note: 1_linear.weight alone is 97.6% of the cost, more than a rank's even share (50.0%), so no plan over 2 ranks balances it; optimizer.preconditioner.maxFactorDimension=392 would split it into blocks"), "\(single.output)")
        let split = try ProcessRunner.run(["train", CommandTests.config("fashion-mlp.json"), "--plan-only", "--ranks", "2",
                                           "--set", "optimizer.preconditioner.maxFactorDimension=392"])
        #expect(split.status == 0, "\(split.allOutput)")
        #expect(split.output.contains("1_linear.weight#r0c1"))
        #expect(!split.output.contains("note:"))
        // The shipped config says "auto": the plan splits the factor itself and says so.
        let automatic = try ProcessRunner.run(["train", CommandTests.config("fashion-mlp.json"), "--plan-only", "--ranks", "2"])
        #expect(automatic.status == 0, "\(automatic.allOutput)")
        #expect(automatic.output.contains("maxFactorDimension auto -> 392 over 2 ranks (imbalance 1.06; 1024 would give 1.95)"), "\(automatic.output)")
        #expect(automatic.output.contains("1_linear.weight#r0c1") && !automatic.output.contains("note:"))
    }
}
