import Foundation
import Testing

/// `spectrain spd CONFIG --sizes ...` as a user runs it: one Markdown row per size and precision,
/// the rows of unconverged solves kept and named in the final error, and one-line errors for bad flags.
@Suite("spd --sizes")
struct SPDSizeTableTests {
    /// The table's data rows (after the header and separator), split into cells.
    static func rows(_ output: String) -> [[String]] {
        output.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| k ") && !$0.hasPrefix("| --") }
            .map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    @Test("each size runs in float64 then float32, both solvers converged, at each precision's tolerance")
    func table() throws {
        let result = try ProcessRunner.run(["spd", CommandTests.config("spd-gaussian.json"), "--sizes", "16,24"], timeout: 120)
        #expect(result.status == 0, "\(result.allOutput)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("spd gaussian by size: condition 100") == true, "\(result.output)")
        #expect(lines.filter { $0.hasPrefix("| k ") }.count == 1, "\(result.output)")
        let rows = Self.rows(result.output)
        #expect(rows.map { "\($0[0]) \($0[1])" } == ["16 float64", "16 float32", "24 float64", "24 float32"], "\(result.output)")
        for row in rows {
            #expect(row.count == 18, "\(row)")
            // spd-gaussian.json's tolerance 1e-6 for Float64; Float32 at the default floor 1e-4.
            #expect(row[2] == (row[1] == "float64" ? "1e-06" : "0.0001"), "\(row)")
            #expect(Double(row[3]) ?? 0 > 0, "GEMM GFLOP/s: \(row)")
            #expect(Int(row[4]) ?? 0 > 0 && Int(row[10]) ?? 0 > 0 && Int(row[5]) ?? 0 >= Int(row[4]) ?? 1, "iterations: \(row)")
            // A number (at k = 16 under load it can round to 0.00).
            #expect((Double(row[9]) ?? -1) >= 0, "spectral GFLOP/s: \(row)")
            // Time outside the problem's evaluations: part of each solver's seconds.
            for (own, total) in [(14, 6), (15, 11)] {
                #expect((Double(row[own]) ?? -1) >= 0 && Double(row[own]) ?? 1 <= Double(row[total]) ?? 0, "own seconds: \(row)")
            }
            #expect(row[16] == "yes" && row[17] == "yes", "\(row)")
        }
    }

    @Test("a Float32 row is held to the larger of the config's tolerance and --float32-tolerance")
    func float32Tolerance() throws {
        let result = try ProcessRunner.run([
            "spd", CommandTests.config("spd-gaussian.json"), "--sizes", "16", "--precisions", "float32",
            "--set", "tolerance=1e-3", "--float32-tolerance", "1e-4",
        ], timeout: 60)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(Self.rows(result.output).map { $0[1] + " " + $0[2] } == ["float32 0.001"], "\(result.output)")
    }

    @Test("rows that did not converge stay in the table, and the one error line names them")
    func unconverged() throws {
        let result = try ProcessRunner.run(
            ["spd", CommandTests.config("spd-gaussian.json"), "--sizes", "16,24", "--set", "maxIterations=2"], timeout: 60)
        #expect(result.status != 0)
        let rows = Self.rows(result.output)
        #expect(rows.count == 4 && rows.allSatisfy { $0[16] == "no" && $0[17] == "no" }, "\(result.output)")
        let errors = result.errorOutput.split(separator: "\n")
        #expect(errors.count == 1, "\(result.errorOutput)")
        #expect(result.errorOutput.contains("k = 16 float64 (spectral, Riemannian GD)") && result.errorOutput.contains("k = 24 float32"), "\(result.errorOutput)")
    }

    @Test("a size that does not fit in memory is an error before anything is made")
    func sizeTooLarge() throws {
        // 1000 targets at k = 4096: 2040 matrices of 128 MiB, about 255 GiB.
        let result = try ProcessRunner.run(
            ["spd", CommandTests.config("spd-karcher.json"), "--set", "count=1000", "--sizes", "16,4096"], timeout: 60)
        #expect(result.status != 0, "\(result.allOutput)")
        #expect(result.output.isEmpty, "\(result.output)")
        #expect(result.errorOutput.contains("--sizes: 1000 matrices of 4096 x 4096 need about"), "\(result.errorOutput)")
    }

    static let badFlags: [(arguments: [String], message: String)] = [
        (["--sizes", "0"], "--sizes: '0' is outside the dimension range 2...4096"),
        (["--sizes", "abc"], "--sizes: 'abc' is not an integer"),
        (["--sizes", "16,5000"], "--sizes: '5000' is outside the dimension range 2...4096"),
        (["--sizes", "16,24,16"], "--sizes: '16' is listed twice"),
        (["--sizes", ""], "--sizes: no sizes given"),
        (["--sizes", "16,,24"], "--sizes: an empty item"),
        (["--sizes", "16", "--precisions", "float16"], "--precisions: 'float16' is not one of float64, float32"),
        (["--sizes", "16", "--precisions", "float32,float32"], "--precisions: 'float32' is listed twice"),
        (["--sizes", "16", "--precisions", ""], "--precisions: no precisions given"),
        (["--sizes", "16", "--float32-tolerance", "0"], "--float32-tolerance must be in (0, 1), got 0.0"),
        (["--sizes", "16", "--float32-tolerance", "1"], "--float32-tolerance must be in (0, 1), got 1.0"),
        (["--sizes", "16", "--float32-tolerance", "nan"], "--float32-tolerance must be in (0, 1), got nan"),
        (["--sizes", "16", "--float32-tolerance", "abc"], "'abc' is invalid for '--float32-tolerance"),
        (["--precisions", "float32"], "--precisions applies only with --sizes"),
        (["--float32-tolerance", "1e-3"], "--float32-tolerance applies only with --sizes"),
    ]

    /// ArgumentParser follows an error with the usage (and, for a value it could not read, the
    /// option's help): the error itself is the one remaining line.
    @Test("a bad --sizes, --precisions or --float32-tolerance is one error line naming the flag", arguments: badFlags.indices)
    func badFlag(_ index: Int) throws {
        let (arguments, message) = Self.badFlags[index]
        let result = try ProcessRunner.run(["spd", CommandTests.config("spd-gaussian.json")] + arguments, timeout: 60)
        #expect(result.status == 64, "status \(result.status): \(result.allOutput)")
        #expect(result.output.isEmpty, "\(result.output)")
        let lines = result.errorOutput.split(separator: "\n")
            .filter { !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See ") && !$0.hasPrefix("Help:") && !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].contains(message), "\(result.errorOutput)")
    }
}
