import Foundation
import Testing

/// `spectrain es` as a user runs it: both shipped problems to the target, the same outcome on
/// 1 and 2 ranks, and one-line errors.
@Suite("spectrain es", .serialized)
struct ESCommandTests {
    /// The JSON outcome lines, by method.
    func outcomes(_ output: String) throws -> [String: [String: Any]] {
        var byMethod: [String: [String: Any]] = [:]
        for line in output.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            byMethod[object["method"] as? String ?? "?"] = object
        }
        return byMethod
    }

    @Test("each shipped problem reaches the target with every method; the spectral ones decompose nothing; the solution is printed and written",
          arguments: ["es-rosenbrock.json", "es-ellipsoid.json"])
    func shipped(_ name: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-es-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let resultPath = folder.appendingPathComponent("result.jsonl").path
        let result = try ProcessRunner.run(["es", CommandTests.config(name), "--result", resultPath], timeout: 300)
        #expect(result.status == 0, "\(result.allOutput)")
        let rows = result.output.split(separator: "\n")
        for method in ["cma", "spectral"] {
            #expect(rows.contains { $0.hasPrefix(method + " ") && $0.hasSuffix("yes") && $0.contains(" 0 ") }, "\(result.output)")
            #expect(rows.contains { $0.hasPrefix(method + " mean: [") }, "\(result.output)")
        }
        #expect(rows.contains { $0.hasPrefix("xnes ") && $0.hasSuffix("yes") }, "\(result.output)")
        #expect(result.output.contains("evaluations against exact xNES: cma "))
        // The result file: one line per method, the mean within reach of the optimum.
        let lines = try String(contentsOfFile: resultPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let cma = try #require(try outcomes(lines.joined(separator: "\n"))["cma"])
        let mean = try #require(cma["mean"] as? [Double])
        #expect(mean.count == 10)
        #expect(cma["stopReason"] as? String == "target")
    }

    /// The samples of an iteration are the same on every rank and each rank evaluates a share;
    /// the values are gathered exactly, so the cma and spectral runs (no threaded BLAS at
    /// n = 10) take the same steps on 2 and 3 ranks as on 1.
    @Test("2 and 3 ranks share the evaluations and take the same steps as 1")
    func ranks() throws {
        let arguments = ["es", CommandTests.config("es-ellipsoid.json"), "--json", "--set", #"methods=["cma","spectral"]"#]
        let single = try ProcessRunner.run(arguments, timeout: 300)
        #expect(single.status == 0, "\(single.allOutput)")
        for ranks in [2, 3] {
            let several = try ProcessRunner.run(arguments, ranks: ranks, timeout: 300)
            #expect(several.status == 0, "\(several.allOutput)")
            for method in ["cma", "spectral"] {
                let one = try outcomes(single.output)[method]
                let other = try outcomes(several.output)[method]
                #expect(one?["reachedTarget"] as? Bool == true)
                #expect(one?["evaluations"] as? Int == other?["evaluations"] as? Int, "\(method) on \(ranks) ranks")
                #expect(one?["finalValue"] as? Double == other?["finalValue"] as? Double, "\(method) on \(ranks) ranks")
                #expect(one?["mean"] as? [Double] == other?["mean"] as? [Double], "\(method) on \(ranks) ranks")
            }
        }
    }

    /// The shipped example objective computes Rosenbrock in Python with the built-in's arithmetic,
    /// and values travel as 17 significant digits (exact for a double): the runs must be equal.
    static let hasPython = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    @Test("a user's objective run as a command takes the same steps as the built-in, on 1 and 2 ranks",
          .enabled(if: hasPython, "needs python3 (CI installs it)"))
    func command() throws {
        let builtIn = try ProcessRunner.run(
            ["es", CommandTests.config("es-rosenbrock.json"), "--json", "--set", #"methods=["spectral"]"#], timeout: 300)
        #expect(builtIn.status == 0, "\(builtIn.allOutput)")
        let reference = try outcomes(builtIn.output)["spectral"]
        #expect(reference?["reachedTarget"] as? Bool == true)
        let script = CommandTests.config("objectives/rosenbrock.py")
        for ranks in [nil, 2] as [Int?] {
            let result = try ProcessRunner.run(
                ["es", CommandTests.config("es-command.json"), "--json", "--set", #"objective.command=["python3","\#(script)"]"#],
                ranks: ranks, timeout: 300)
            #expect(result.status == 0, "\(result.allOutput)")
            let outcome = try outcomes(result.output)["spectral"]
            #expect(outcome?["evaluations"] as? Int == reference?["evaluations"] as? Int)
            #expect(outcome?["finalValue"] as? Double == reference?["finalValue"] as? Double)
        }
    }

    /// The batch example computes the same Rosenbrock as the built-in, so the batch protocol
    /// (each rank's share of an iteration in one message) must take the same steps.
    @Test("a user's objective run as a command with the batch protocol takes the same steps as the built-in, on 1 and 2 ranks",
          .enabled(if: hasPython, "needs python3 (CI installs it)"))
    func batchCommand() throws {
        let builtIn = try ProcessRunner.run(
            ["es", CommandTests.config("es-rosenbrock.json"), "--json", "--set", #"methods=["spectral"]"#], timeout: 300)
        #expect(builtIn.status == 0, "\(builtIn.allOutput)")
        let reference = try outcomes(builtIn.output)["spectral"]
        #expect(reference?["reachedTarget"] as? Bool == true)
        let script = CommandTests.config("objectives/rosenbrock_batch.py")
        for ranks in [nil, 2] as [Int?] {
            let result = try ProcessRunner.run(
                ["es", CommandTests.config("es-command.json"), "--json", "--set", "objective.protocol=batch",
                 "--set", #"objective.command=["python3","\#(script)"]"#],
                ranks: ranks, timeout: 300)
            #expect(result.status == 0, "\(result.allOutput)")
            let outcome = try outcomes(result.output)["spectral"]
            #expect(outcome?["evaluations"] as? Int == reference?["evaluations"] as? Int)
            #expect(outcome?["finalValue"] as? Double == reference?["finalValue"] as? Double)
        }
    }

    @Test("objective.protocol given for a built-in, or not a protocol, is one line naming it")
    func protocolErrors() throws {
        let cases: [(String, [String], String)] = [
            ("es-rosenbrock.json", ["--set", "objective.protocol=batch"], "es-rosenbrock.json: field 'objective.protocol': does not apply to type rosenbrock"),
            ("es-ellipsoid.json", ["--set", "objective.protocol=point"], "es-ellipsoid.json: field 'objective.protocol': does not apply to type ellipsoid"),
            ("es-command.json", ["--set", "objective.protocol=lines"], "es-command.json: field 'objective.protocol': 'lines' is not one of point, batch"),
        ]
        for (name, overrides, message) in cases {
            let result = try ProcessRunner.run(["es", CommandTests.config(name)] + overrides, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(overrides): \(result.errorOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        }
    }

    @Test("a command that answers garbage, exits or is missing is one line naming it",
          .enabled(if: hasPython, "needs python3 (CI installs it)"))
    func commandFailures() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-es-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let garbage = folder.appendingPathComponent("garbage.py")
        try "import sys\nfor line in sys.stdin:\n    print('oops', flush=True)\n".write(to: garbage, atomically: true, encoding: .utf8)
        let quitter = folder.appendingPathComponent("quit.py")
        try "import sys\nsys.stdin.readline()\nsys.exit(3)\n".write(to: quitter, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["python3", garbage.path], "objective command 'python3 \(garbage.path)': answered 'oops' to point 1, not a number"),
            (["python3", quitter.path], "objective command 'python3 \(quitter.path)': exited with status 3 before answering point 1"),
            (["/nonexistent/objective"], "objective command '/nonexistent/objective': exited with status 127 (program not found?)"),
        ]
        for (command, message) in cases {
            let encoded = String(decoding: try JSONSerialization.data(withJSONObject: command, options: [.withoutEscapingSlashes]), as: UTF8.self)
            let result = try ProcessRunner.run(["es", CommandTests.config("es-command.json"), "--set", "objective.command=\(encoded)"], timeout: 120)
            #expect(result.status != 0)
            let lines = result.errorOutput.split(separator: "\n").filter { $0.hasPrefix("spectrain: error") }
            #expect(lines.count == 1 && lines[0].contains(message), "\(result.errorOutput)")
        }
    }

    @Test("bad configurations and a missed target are one line and a non-zero exit")
    func errors() throws {
        let config = CommandTests.config("es-ellipsoid.json")
        let cases: [([String], String)] = [
            (["--set", "objective.type=himmelblau"], "es-ellipsoid.json: field 'objective.type': "),
            (["--set", "search.covarianceLearningRate=2"], "es-ellipsoid.json: field 'search.covarianceLearningRate': must be in (0, 1], got 2.0"),
            (["--set", #"methods=["spectral","spectral"]"#], "es-ellipsoid.json: field 'methods': must list cma, cmaExact, spectral and/or xnes, each once"),
            (["--set", "maxEvaluations=100"], "did not reach f(mean) < 1e-10 within 100 evaluations: cma, spectral, xnes"),
            (["--set", "objective.type=command"], "es-ellipsoid.json: field 'objective.command': must name the program to run"),
            (["--set", #"objective.command=["python3"]"#], "es-ellipsoid.json: field 'objective.command': applies to type command only"),
            (["--set", "search.initialStepSize=[1,2,3]"], "es-ellipsoid.json: field 'search': initialStepSize must be one number or 10 numbers (the dimension), got 3"),
            (["--set", "search.initialStepSize=[1,0,1,1,1,1,1,1,1,1]"], "es-ellipsoid.json: field 'search.initialStepSize': must be > 0, got 0.0 at [1]"),
            (["--set", "restarts=101"], "es-ellipsoid.json: field 'restarts': must be in 0...100, got 101"),
            (["--set", "populationGrowth=1"], "es-ellipsoid.json: field 'populationGrowth': must be in (1, 10], got 1.0"),
            (["--set", "objective.timeoutSeconds=0"], "es-ellipsoid.json: field 'objective.timeoutSeconds': must be in (0, 86400], got 0.0"),
            (["--set", "objective.timeoutSeconds=86401"], "es-ellipsoid.json: field 'objective.timeoutSeconds': must be in (0, 86400], got 86401.0"),
        ]
        for (overrides, message) in cases {
            let result = try ProcessRunner.run(["es", config] + overrides, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(result.errorOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        }
    }

    /// A job interrupted after a checkpoint continues bit for bit: `latest` is set back to the
    /// checkpoint in the middle of the second method, as a killed job would have left it, and
    /// `--resume` must give the same outcomes and rebuild the same metrics log (elapsed seconds
    /// aside), the lines logged after the checkpoint kept aside.
    @Test("--resume continues an interrupted job bit for bit, metrics.jsonl included")
    func resume() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-es-run-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let arguments = ["es", CommandTests.config("es-rosenbrock.json"), "--json", "--set", #"methods=["cma","spectral"]"#, "--set", "checkpointEvery=50"]
        let straight = try ProcessRunner.run(arguments + ["--run", folder], timeout: 300)
        #expect(straight.status == 0, "\(straight.allOutput)")
        let metricsPath = folder + "/metrics.jsonl"
        func records() throws -> [[String: Any]] {
            try String(contentsOfFile: metricsPath, encoding: .utf8).split(separator: "\n").map { line in
                var record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                record["elapsedSeconds"] = nil
                return record
            }
        }
        let logged = try records()
        let cma = try #require(try outcomes(straight.output)["cma"])
        let total = (cma["iterations"] as? Int ?? 0) + (try outcomes(straight.output)["spectral"]?["iterations"] as? Int ?? 0)
        #expect(logged.count == total && (logged.last?["step"] as? Int) == total)
        // Back to the newest checkpoint inside the spectral run.
        let inside = try #require(try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasPrefix("ckpt-") && Int($0.dropFirst(5))! < total }.max())
        try (inside + "\n").write(toFile: folder + "/latest", atomically: true, encoding: .utf8)
        // The budget may change on resume.
        let resumed = try ProcessRunner.run(arguments + ["--resume", folder, "--set", "maxEvaluations=300000"], timeout: 300)
        #expect(resumed.status == 0, "\(resumed.allOutput)")
        #expect(resumed.errorOutput.contains("resuming \(folder) at iteration \(Int(inside.dropFirst(5))!): 1 of 2 methods done"), "\(resumed.errorOutput)")
        for method in ["cma", "spectral"] {
            var before = try #require(try outcomes(straight.output)[method])
            var after = try #require(try outcomes(resumed.output)[method])
            (before["seconds"], after["seconds"]) = (nil, nil)
            #expect(NSDictionary(dictionary: before) == NSDictionary(dictionary: after), "\(method)")
        }
        let relogged = try records()
        #expect(relogged.count == logged.count)
        #expect(NSArray(array: relogged) == NSArray(array: logged))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).contains { $0.hasPrefix("metrics-superseded-at-step-") })
        // A changed configuration, an earlier run without --overwrite, and option misuse are one line each.
        let cases: [([String], String)] = [
            (["--resume", folder, "--set", "seed=2"], "was written with another configuration (seed: 1 then 2); only maxEvaluations, logEvery and checkpointEvery may change on resume"),
            (["--resume", folder, "--set", #"search.initialStepSize=[1,1,1,1,1,1,1,1,1,2]"#], "was written with another configuration (search.initialStepSize: "),
            (["--run", folder], "\(folder): holds an earlier run (metrics.jsonl or checkpoints); continue it with --resume \(folder), or replace it with --overwrite"),
            (["--run", folder, "--resume", folder], "--run starts a new run and --resume continues one: give one of them"),
            (["--overwrite"], "--overwrite applies to --run only"),
            (["--resume", folder + "-missing"], "\(folder)-missing: no such run or checkpoint folder"),
        ]
        for (extra, message) in cases {
            let result = try ProcessRunner.run(arguments + extra, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(extra): \(result.errorOutput)")
            // Misused options get the argument parser's usage lines after the one-line error.
            #expect(result.errorOutput.split(separator: "\n").first?.contains(message) == true, "\(result.errorOutput)")
        }
        // --overwrite replaces the run: a fresh log of the same length.
        let replaced = try ProcessRunner.run(arguments + ["--run", folder, "--overwrite"], timeout: 300)
        #expect(replaced.status == 0, "\(replaced.allOutput)")
        #expect(try records().count == total)
    }

    /// Preemption: SIGTERM mid-run stops the job after the iteration under way with a checkpoint
    /// and exit status 75; --resume then ends exactly as an uninterrupted run does.
    @Test("SIGTERM mid-run: a checkpoint, exit 75, and --resume ends as an uninterrupted run")
    func signal() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-es-stop-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let arguments = ["es", CommandTests.config("es-ellipsoid.json"), "--json", "--set", #"methods=["cma"]"#, "--set", "objective.dimension=20"]
        let straight = try ProcessRunner.run(arguments, timeout: 600)
        #expect(straight.status == 0, "\(straight.allOutput)")
        let run = folder + "/run"
        let words = (arguments + ["--run", run]).map { "'" + $0 + "'" }.joined(separator: " ")
        let script = """
            "$SPECTRAIN" \(words) > '\(folder)/out' 2>&1 &
            job=$!
            for _ in $(seq 1 1200); do [ -s '\(run)/metrics.jsonl' ] && break; sleep 0.05; done
            kill -TERM $job
            wait $job
            echo "status $?"
            cat '\(folder)/out'
            """
        let stopped = try ProcessRunner.runScript(script, timeout: 600)
        #expect(stopped.output.contains("status 75"), "\(stopped.allOutput)")
        let line = try #require(stopped.output.split(separator: "\n").first { $0.hasPrefix("spectrain: stopped by SIGTERM after iteration ") })
        #expect(line.contains("; saved \(run)/ckpt-") && line.hasSuffix("; continue with --resume \(run) (exit status 75)"), "\(line)")
        let resumed = try ProcessRunner.run(arguments + ["--resume", run], timeout: 600)
        #expect(resumed.status == 0, "\(resumed.allOutput)")
        var before = try #require(try outcomes(straight.output)["cma"])
        var after = try #require(try outcomes(resumed.output)["cma"])
        (before["seconds"], after["seconds"]) = (nil, nil)
        #expect(NSDictionary(dictionary: before) == NSDictionary(dictionary: after))
    }

    /// A resumed job under mpirun: rank 0 reads the checkpoint and sends it to the other ranks,
    /// which continue as one rank would.
    @Test("--resume under mpirun -np 2 continues as one rank does")
    func resumeOnTwoRanks() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-es-run-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let arguments = ["es", CommandTests.config("es-ellipsoid.json"), "--json", "--set", #"methods=["cma"]"#, "--set", "checkpointEvery=100"]
        let straight = try ProcessRunner.run(arguments + ["--run", folder], timeout: 300)
        #expect(straight.status == 0, "\(straight.allOutput)")
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("ckpt-") }.min())
        try (first + "\n").write(toFile: folder + "/latest", atomically: true, encoding: .utf8)
        let resumed = try ProcessRunner.run(arguments + ["--resume", folder], ranks: 2, timeout: 300)
        #expect(resumed.status == 0, "\(resumed.allOutput)")
        var before = try #require(try outcomes(straight.output)["cma"])
        var after = try #require(try outcomes(resumed.output)["cma"])
        (before["seconds"], after["seconds"]) = (nil, nil)
        #expect(NSDictionary(dictionary: before) == NSDictionary(dictionary: after))
    }

    /// A noisy built-in: with several confirmations a run does not stop on one lucky f(mean),
    /// and the noise settings are checked.
    @Test("noise settings: a noisy built-in runs, wrong settings are one line")
    func noise() throws {
        let config = CommandTests.config("es-ellipsoid.json")
        let run = try ProcessRunner.run(
            ["es", config, "--json", "--set", #"methods=["cma"]"#, "--set", "objective.noise=0.1", "--set", "evaluationsPerCandidate=3",
             "--set", "targetConfirmations=5", "--set", "target=1e-6"], timeout: 300)
        #expect(run.status == 0, "\(run.allOutput)")
        let cma = try #require(try outcomes(run.output)["cma"])
        #expect((cma["evaluations"] as? Int ?? 0) == 3 * (cma["iterations"] as? Int ?? -1) * (cma["population"] as? Int ?? 0))
        let cases: [([String], String)] = [
            (["--set", "objective.noiseType=additive"], "es-ellipsoid.json: field 'objective.noiseType': applies only with noise"),
            (["--set", "objective.noise=-1"], "es-ellipsoid.json: field 'objective.noise': must be in [0, 1000000], got -1.0"),
            (["--set", "evaluationsPerCandidate=0"], "es-ellipsoid.json: field 'evaluationsPerCandidate': must be in 1...1000, got 0"),
            (["--set", "targetConfirmations=1001"], "es-ellipsoid.json: field 'targetConfirmations': must be in 1...1000, got 1001"),
            (["--set", "checkpointEvery=0"], "es-ellipsoid.json: field 'checkpointEvery': must be in 1...1000000000, got 0"),
        ]
        for (overrides, message) in cases {
            let result = try ProcessRunner.run(["es", config] + overrides, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(overrides): \(result.errorOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        }
        let command = try ProcessRunner.run(["es", CommandTests.config("es-command.json"), "--set", "objective.noise=1"], timeout: 120)
        #expect(command.errorOutput.contains("es-command.json: field 'objective.noise': does not apply to type command"), "\(command.errorOutput)")
    }

    /// Box bounds: Rosenbrock's minimum (all ones) lies outside x <= 0.5, so the search ends on
    /// the upper bound of the first coordinate; the reported mean and best sample are the points
    /// the function saw, inside the box; wrong bounds are one line.
    @Test("objective.bounds keep the points the function sees, and the reported solution, inside the box")
    func bounds() throws {
        let config = CommandTests.config("es-rosenbrock.json")
        let run = try ProcessRunner.run(
            ["es", config, "--json", "--set", #"methods=["cma"]"#, "--set", #"objective.bounds={"lower": -5, "upper": 0.5}"#,
             "--set", "target=-1", "--set", "maxEvaluations=20000"], timeout: 300)
        let cma = try #require(try outcomes(run.output)["cma"], "\(run.allOutput)")
        for key in ["mean", "bestSample"] {
            let point = try #require(cma[key] as? [Double])
            #expect(point.count == 10 && point.allSatisfy { -5 <= $0 && $0 <= 0.5 }, "\(key) \(point)")
        }
        // The constrained minimum has x1 on the bound (f falls as x1 grows to 1).
        #expect(abs(((cma["mean"] as? [Double])?.first ?? 0) - 0.5) < 1e-3)
        let cases: [([String], String)] = [
            (["--set", #"objective.bounds={"lower": [1, 2]}"#], "es-rosenbrock.json: field 'objective.bounds': lower must be one number or 10 numbers (the dimension), got 2"),
            (["--set", #"objective.bounds={"lower": 1, "upper": 0.5}"#], "es-rosenbrock.json: field 'objective.bounds': lower[0] = 1.0 is not below upper[0] = 0.5"),
            (["--set", #"objective.bounds={}"#], "es-rosenbrock.json: field 'objective.bounds': give lower, upper or both"),
            (["--set", #"objective.bounds={"upper": 2e300}"#], "es-rosenbrock.json: field 'objective.bounds': upper[0] = 2e+300 is beyond ±1e300"),
            (["--set", #"objective.bounds={"left": 0}"#], "es-rosenbrock.json: field 'objective.bounds': unknown field 'left' (allowed: lower, upper)"),
        ]
        for (overrides, message) in cases {
            let result = try ProcessRunner.run(["es", config] + overrides, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(overrides): \(result.errorOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        }
    }

    /// A function that is NaN everywhere stops the run at once, and the error says why instead
    /// of reporting a missed target.
    @Test("a non-finite f(mean) stops the run with an error that says so", .enabled(if: hasPython, "needs python3 (CI installs it)"))
    func nonFiniteMean() throws {
        let program = #"["python3", "-c", "import sys\nfor line in sys.stdin: print('nan', flush=True)"]"#
        let result = try ProcessRunner.run(
            ["es", CommandTests.config("es-command.json"), "--set", "objective.command=\(program)", "--set", #"methods=["cma"]"#], timeout: 120)
        #expect(result.status != 0)
        let errors = result.errorOutput.split(separator: "\n")
        #expect(errors.count == 1 && errors[0].contains("stopped: f(mean) was not a finite number (cma after 0 evaluations)"), "\(result.errorOutput)")
        #expect(!result.errorOutput.contains("did not reach"))
    }

    @Test("an objective setting that does not apply to the function, or does not fit the dimension, is one line naming it")
    func objectiveSettingErrors() throws {
        let cases: [(String, [String], String)] = [
            ("es-rosenbrock.json", ["--set", "objective.condition=100"],
             "es-rosenbrock.json: field 'objective.condition': applies to types ellipsoid, cigar and discus only, not rosenbrock"),
            ("es-ellipsoid.json", ["--set", "objective.type=sphere"],
             "es-ellipsoid.json: field 'objective.condition': applies to types ellipsoid, cigar and discus only, not sphere"),
            ("es-ellipsoid.json", ["--set", "objective.condition=0.5"], "es-ellipsoid.json: field 'objective.condition': must be >= 1, got 0.5"),
            ("es-command.json", ["--set", "objective.rotated=true"], "es-command.json: field 'objective.rotated': does not apply to type command"),
            ("es-command.json", ["--set", "objective.rotationSeed=2"], "es-command.json: field 'objective.rotationSeed': does not apply to type command"),
            ("es-command.json", ["--set", "objective.shift=1"], "es-command.json: field 'objective.shift': does not apply to type command"),
            ("es-rosenbrock.json", ["--set", "objective.rotationSeed=2"],
             "es-rosenbrock.json: field 'objective.rotationSeed': applies to a rotated function only (rotated is false for rosenbrock)"),
            ("es-ellipsoid.json", ["--set", "objective.rotated=false"],
             "es-ellipsoid.json: field 'objective.rotationSeed': applies to a rotated function only (rotated is false for ellipsoid)"),
            ("es-ellipsoid.json", ["--set", "objective.start=[1,2,3]"],
             "es-ellipsoid.json: field 'objective.start': must be one number or 10 numbers (the dimension), got 3"),
            ("es-command.json", ["--set", "objective.start=[0,0,0,0,0,0,0,0,0,0,0]"],
             "es-command.json: field 'objective.start': must be one number or 10 numbers (the dimension), got 11"),
            ("es-rosenbrock.json", ["--set", "objective.shift=[1,2]"],
             "es-rosenbrock.json: field 'objective.shift': must be one number or 10 numbers (the dimension), got 2"),
            // JSON has no NaN or infinity: such a shift is not a number at all.
            ("es-rosenbrock.json", ["--set", "objective.shift=1e400"], "es-rosenbrock.json: field 'objective.shift': must be a number or an array of numbers"),
            ("es-rosenbrock.json", ["--set", #"objective.shift=[0,0,0,0,0,0,0,0,0,"nan"]"#], "es-rosenbrock.json: field 'objective.shift[9]': expected a number"),
            ("es-rosenbrock.json", ["--set", "objective.start=inf"], "es-rosenbrock.json: field 'objective.start': must be a number or an array of numbers"),
        ]
        for (name, overrides, message) in cases {
            let result = try ProcessRunner.run(["es", CommandTests.config(name)] + overrides, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(overrides): \(result.errorOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        }
    }

    @Test("each smooth built-in, shifted, rotated and started from a point given per coordinate, reaches the target",
          arguments: ["sphere", "ellipsoid", "cigar", "discus", "differentPowers"])
    func shiftedBuiltIns(_ type: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-es-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let condition = ["ellipsoid", "cigar", "discus"].contains(type) ? #", "condition": 100"# : ""
        let config = folder.appendingPathComponent("es.json")
        try """
            {
              "objective": { "type": "\(type)", "dimension": 4\(condition), "rotationSeed": 3, "shift": [1, -2, 0.5, 3], "start": [0, 0, 0, 0] },
              "methods": ["spectral", "xnes"],
              "target": 1e-10,
              "maxEvaluations": 100000
            }
            """.write(to: config, atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run(["es", config.path, "--json"], timeout: 300)
        #expect(result.status == 0, "\(result.allOutput)")
        let byMethod = try outcomes(result.output)
        #expect(Set(byMethod.keys) == ["spectral", "xnes"], "\(result.allOutput)")
        for (method, outcome) in byMethod {
            #expect(outcome["reachedTarget"] as? Bool == true, "\(type) \(method): \(outcome)")
            #expect((outcome["finalValue"] as? Double ?? 1) < 1e-10, "\(type) \(method): \(outcome)")
        }
    }

    /// A folder for a test's objective script and the process ids its copies write (one file
    /// per rank: `pid.RANK`).
    final class ObjectiveFolder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("spectrain-es-\(UUID().uuidString)")

        /// Writes `body` as a bash script that first closes the descriptors it inherited beyond
        /// the standard three (among them the socket by which Foundation's `Process` in this test
        /// sees its child end: an objective that outlives spectrain must fail the test, not hang
        /// it) and records its process id.
        init(_ body: String) throws {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            let prelude = """
                for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
                echo $$ > '\(url.path)'/pid.${OMPI_COMM_WORLD_RANK:-0}

                """
            try (prelude + body + "\n").write(to: url.appendingPathComponent("objective.sh"), atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(at: url) }

        /// `--set` overrides that run the script as the objective, with `timeoutSeconds`.
        func overrides(timeoutSeconds: Int) throws -> [String] {
            let command = ["/bin/bash", url.appendingPathComponent("objective.sh").path]
            let encoded = String(decoding: try JSONSerialization.data(withJSONObject: command, options: [.withoutEscapingSlashes]), as: UTF8.self)
            return ["--set", "objective.command=\(encoded)", "--set", "objective.timeoutSeconds=\(timeoutSeconds)"]
        }

        /// The process ids the copies of the objective wrote, by rank.
        var pids: [Int: pid_t] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            var pids: [Int: pid_t] = [:]
            for name in names where name.hasPrefix("pid.") {
                let text = (try? String(contentsOfFile: url.appendingPathComponent(name).path, encoding: .utf8)) ?? ""
                if let rank = Int(name.dropFirst(4)), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    pids[rank] = pid
                }
            }
            return pids
        }
    }

    /// Whether process `pid` is gone (or a zombie nobody has reaped yet: it runs nothing),
    /// waiting up to `seconds` for it.
    static func isGone(_ pid: pid_t, within seconds: Double = 2) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if kill(pid, 0) != 0 && errno == ESRCH { return true }
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let close = stat.lastIndex(of: ")"), stat[stat.index(after: close)...].hasPrefix(" Z") {
                return true
            }
            usleep(10_000)
        } while Date() < deadline
        return false
    }

    @Test("an objective that never answers ends the run within the timeout, one line naming it, and is gone")
    func neverAnswers() throws {
        let folder = try ObjectiveFolder("exec sleep 1000")
        let result = try ProcessRunner.run(["es", CommandTests.config("es-command.json")] + folder.overrides(timeoutSeconds: 1), timeout: 60)
        #expect(result.status != 0 && result.status != 124, "\(result.allOutput)")
        #expect(result.seconds < 10, "took \(result.seconds) s")
        let lines = result.errorOutput.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("spectrain: error: objective command '/bin/bash ")
                && lines[0].hasSuffix("': no answer to point 1 within the timeout of 1 s; stopped it"), "\(result.errorOutput)")
        let pid = try #require(folder.pids[0])
        #expect(Self.isGone(pid))
    }

    /// The objective answers forever and, once its input ends, sleeps: only the parent-death
    /// signal (not the end of its input) can end it after spectrain is killed. SIGKILL, because
    /// nothing of spectrain's own can run on it (and because children of this test process
    /// inherit its blocked SIGTERM).
    @Test("spectrain killed with SIGKILL while the objective runs: the objective is gone within 2 s")
    func killedParent() throws {
        let folder = try ObjectiveFolder("while read line; do echo 1; done\nexec sleep 1000")
        let arguments = try (["es", CommandTests.config("es-command.json"), "--set", "maxEvaluations=100000000"] + folder.overrides(timeoutSeconds: 60))
            .map { "'\($0)'" }.joined(separator: " ")
        let script = """
            "$SPECTRAIN" \(arguments) > /dev/null & job=$!
            for attempt in $(seq 200); do [ -s '\(folder.url.path)/pid.0' ] && break; sleep 0.05; done
            sleep 0.2; kill -KILL $job; wait $job; echo "status $?"
            """
        let result = try ProcessRunner.runScript(script, timeout: 60)
        #expect(result.output.contains("status 137"), "\(result.allOutput)")
        let pid = try #require(folder.pids[0])
        #expect(Self.isGone(pid), "objective \(pid) outlived spectrain killed by SIGKILL")
        if !Self.isGone(pid, within: 0) { kill(pid, SIGKILL) }
    }

    /// Under mpirun the objective of one rank never answers; the other's answers, and once its
    /// input ends, sleeps. The rank that times out must end the job, and no objective may stay.
    @Test("mpirun -np 2, one rank's objective never answers: the job ends non-zero within the timeout, no objective left",
          arguments: [0, 1])
    func neverAnswersUnderMPI(silentRank: Int) throws {
        let folder = try ObjectiveFolder("""
            if [ "${OMPI_COMM_WORLD_RANK:-0}" = \(silentRank) ]; then exec sleep 1000; fi
            while read line; do echo 1; done
            exec sleep 1000
            """)
        let result = try ProcessRunner.run(["es", CommandTests.config("es-command.json")] + folder.overrides(timeoutSeconds: 1), ranks: 2, timeout: 60)
        #expect(result.status != 0 && result.status != 124, "\(result.allOutput)")
        #expect(result.seconds < 20, "took \(result.seconds) s")
        #expect(result.errorOutput.contains("spectrain: error (rank \(silentRank) of 2): objective command '/bin/bash "), "\(result.allOutput)")
        #expect(result.errorOutput.contains("': no answer to point 1 within the timeout of 1 s; stopped it"), "\(result.allOutput)")
        let pids = folder.pids
        // Rank 0 alone evaluates f(mean) first: with rank 0 silent, rank 1 never starts its copy.
        #expect(pids.keys.sorted() == (silentRank == 0 ? [0] : [0, 1]))
        for (rank, pid) in pids {
            #expect(Self.isGone(pid), "the objective of rank \(rank) outlived the job")
            if !Self.isGone(pid, within: 0) { kill(pid, SIGKILL) }
        }
    }
}
