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

    @Test("bad configurations and a missed target are one line and a non-zero exit")
    func errors() throws {
        let config = CommandTests.config("es-ellipsoid.json")
        let cases: [([String], String)] = [
            (["--set", "objective.type=himmelblau"], "es-ellipsoid.json: field 'objective.type': "),
            (["--set", "search.covarianceLearningRate=2"], "es-ellipsoid.json: field 'search.covarianceLearningRate': must be in (0, 1], got 2.0"),
            (["--set", #"methods=["spectral","spectral"]"#], "es-ellipsoid.json: field 'methods': must list spectral and/or xnes, each once"),
            (["--set", "maxEvaluations=100"], "did not reach f(mean) < 1e-10 within 100 evaluations: spectral, xnes"),
        ]
        for (overrides, message) in cases {
            let result = try ProcessRunner.run(["es", config] + overrides, timeout: 120)
            #expect(result.status != 0)
            #expect(result.errorOutput.contains(message), "\(result.errorOutput)")
            #expect(result.errorOutput.split(separator: "\n").count == 1, "\(result.errorOutput)")
        }
    }
}
