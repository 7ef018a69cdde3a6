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

    @Test("each shipped problem reaches the target with both methods; the spectral run decomposes nothing",
          arguments: ["es-rosenbrock.json", "es-ellipsoid.json"])
    func shipped(_ name: String) throws {
        let result = try ProcessRunner.run(["es", CommandTests.config(name)], timeout: 300)
        #expect(result.status == 0, "\(result.allOutput)")
        let rows = result.output.split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("spectral") && $0.hasSuffix("yes") && $0.contains(" 0 ") }, "\(result.output)")
        #expect(rows.contains { $0.hasPrefix("xnes") && $0.hasSuffix("yes") }, "\(result.output)")
        #expect(result.output.contains("evaluations: spectral / xnes = "))
    }

    /// The samples of an iteration are the same on every rank and each rank evaluates a share;
    /// the values are gathered exactly, so the spectral run (no threaded BLAS at n = 10) takes
    /// the same steps on 2 ranks as on 1.
    @Test("2 ranks share the evaluations and take the same steps as 1")
    func ranks() throws {
        let arguments = ["es", CommandTests.config("es-ellipsoid.json"), "--json", "--set", #"methods=["spectral"]"#]
        let single = try ProcessRunner.run(arguments, timeout: 300)
        #expect(single.status == 0, "\(single.allOutput)")
        let double = try ProcessRunner.run(arguments, ranks: 2, timeout: 300)
        #expect(double.status == 0, "\(double.allOutput)")
        let one = try outcomes(single.output)["spectral"]
        let two = try outcomes(double.output)["spectral"]
        #expect(one?["reachedTarget"] as? Bool == true)
        #expect(one?["evaluations"] as? Int == two?["evaluations"] as? Int)
        #expect(one?["finalValue"] as? Double == two?["finalValue"] as? Double)
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
            (["--set", #"methods=["spectral","spectral"]"#], "es-ellipsoid.json: field 'methods': must list spectral and/or xnes, each once"),
            (["--set", "maxEvaluations=100"], "did not reach f(mean) < 1e-10 within 100 evaluations: spectral, xnes"),
            (["--set", "objective.type=command"], "es-ellipsoid.json: field 'objective.command': must name the program to run"),
            (["--set", #"objective.command=["python3"]"#], "es-ellipsoid.json: field 'objective.command': applies to type command only"),
        ]
        for (overrides, message) in cases {
            let result = try ProcessRunner.run(["es", config] + overrides, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(result.errorOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        }
    }
}
