import Foundation
import NN
import Optim
import Spectral
import Support
import Testing
import Train

/// The train config reference (`ConfigReference.lines(TrainConfig.self)`) against decoding
/// itself: every field decoding allows is listed at its path, each layer type lists exactly the
/// fields its decoding allows, and defaults that depend on another field are the ones decoding
/// gives.
@Suite("Config reference")
struct ConfigReferenceTests {
    static let listing = ConfigReference.lines(TrainConfig.self).dropFirst()

    /// The listed paths: each line's first column (paths hold no double space; TextTable pads with them).
    static let paths: [String] = listing.map { line in
        String(line.components(separatedBy: "  ").first ?? "")
    }

    /// The text of the line listing `path`.
    static func line(_ path: String) -> String? {
        listing.first { $0.hasPrefix(path + "  ") }
    }

    /// The field names decoding allows in the object at `path`, read from the error for an unknown
    /// field put there.
    static func allowedFields(overriding override: String) throws -> [String] {
        let minimal = #"{"name": "m", "model": {"layers": [{"type": "relu"}]}, "optimizer": {"type": "adamw"}}"#
        do {
            _ = try ConfigurationFile.decode(TrainConfig.self, from: Data(minimal.utf8), path: "c.json", overrides: [override])
        } catch {
            return allowed(in: error.message)
        }
        Issue.record("\(override) decoded")
        return []
    }

    /// The names of "(allowed: a, b, c)" in an unknown-field message.
    static func allowed(in message: String) -> [String] {
        guard let start = message.range(of: "(allowed: "), let end = message.range(of: ")", options: .backwards) else {
            Issue.record("no allowed list in \(message)")
            return []
        }
        return message[start.upperBound..<end.lowerBound].components(separatedBy: ", ")
    }

    @Test("every field decoding allows in each object of a train config is listed at its path", arguments: [
        ("zzz=1", ""),
        ("data.zzz=1", "data"),
        ("model.zzz=1", "model"),
        ("model.transformer.zzz=1", "model.transformer"),
        ("optimizer.zzz=1", "optimizer"),
        (#"optimizer.schedule={"type": "warmupCosine", "zzz": 1}"#, "optimizer.schedule (type=warmupCosine)"),
        ("optimizer.preconditioner.zzz=1", "optimizer.preconditioner"),
        ("optimizer.preconditioner.damping.zzz=1", "optimizer.preconditioner.damping"),
        ("optimizer.preconditioner.factor.zzz=1", "optimizer.preconditioner.factor"),
        ("training.zzz=1", "training"),
        ("distributed.zzz=1", "distributed"),
        ("checkpoint.zzz=1", "checkpoint"),
    ])
    func everyAllowedFieldIsListed(_ override: String, _ path: String) throws {
        let allowed = try Self.allowedFields(overriding: override).filter { $0 != "type" }
        #expect(allowed.count >= 2, "\(allowed)")
        for name in allowed {
            let fieldPath = path.isEmpty ? name : "\(path).\(name)"
            // A record with defaults is listed by its own fields ("data.trainImages").
            let listed = Self.paths.contains { $0 == fieldPath || $0.hasPrefix(fieldPath + ".") || $0.hasPrefix(fieldPath + "[") || $0.hasPrefix(fieldPath + " (") }
            #expect(listed, "\(fieldPath) is not in the reference")
        }
    }

    @Test("each layer type lists exactly the fields its decoding allows", arguments: LayerSpec.Kind.allCases)
    func layerFields(_ kind: LayerSpec.Kind) throws {
        let json = #"{"type": "\#(kind.rawValue)", "zzz": 1}"#
        var message = ""
        do {
            _ = try JSONDecoder().decode(LayerSpec.self, from: Data(json.utf8))
        } catch let error as DecodingError {
            message = ConfigurationFile.describe(error)
        }
        let allowed = Self.allowed(in: message).filter { $0 != "type" }
        let prefix = "model.layers[] (type=\(kind.rawValue))"
        let listed = Self.paths.filter { $0.hasPrefix(prefix + ".") }.map { String($0.dropFirst(prefix.count + 1)) }
        #expect(listed == allowed, "\(message)")
        if allowed.isEmpty {
            #expect(Self.line(prefix)?.hasSuffix("no other fields") == true)
        }
        #expect(Self.line("model.layers[].type")?.contains(kind.rawValue) == true)
    }

    /// `value` as the reference writes a default: compact JSON.
    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    @Test("a default that depends on the optimizer type or the preconditioner mode is listed as decoding gives it for each")
    func dependentDefaults() throws {
        let learningRate = try #require(Self.line("optimizer.learningRate"))
        let momentum = try #require(Self.line("optimizer.momentum"))
        for kind in OptimizerConfig.Kind.allCases {
            let config = try JSONDecoder().decode(OptimizerConfig.self, from: Data(#"{"type": "\#(kind.rawValue)"}"#.utf8))
            let (rate, momentumValue) = (try Self.json(config.learningRate), try Self.json(config.momentum))
            #expect(learningRate.contains("by type:") && learningRate.contains("\(kind.rawValue) \(rate)"), "\(learningRate)")
            #expect(momentum.contains("by type:") && momentum.contains("\(kind.rawValue) \(momentumValue)"), "\(momentum)")
        }
        let power = try #require(Self.line("optimizer.preconditioner.power"))
        for mode in KroneckerMode.allCases {
            let options = try JSONDecoder().decode(PreconditionerOptions.self, from: Data(#"{"mode": "\#(mode.rawValue)"}"#.utf8))
            let value = try Self.json(options.power)
            #expect(power.contains("by mode:") && power.contains("\(mode.rawValue) \(value)"), "\(power)")
        }
        let pool = try JSONDecoder().decode(LayerSpec.self, from: Data(#"{"type": "maxpool", "kernel": 3}"#.utf8))
        #expect(pool == .maxPool(kernel: 3, stride: 3))
        #expect(Self.line("model.layers[] (type=maxpool).stride")?.contains("default the value of kernel") == true)
    }

    @Test("a field's listed default is the value a config without it decodes to")
    func plainDefaults() throws {
        let minimal = #"{"name": "m", "model": {"layers": [{"type": "relu"}]}, "optimizer": {"type": "adamw"}}"#
        let config = try ConfigurationFile.decode(TrainConfig.self, from: Data(minimal.utf8), path: "c.json")
        let expected = [
            ("training.batchSize", try Self.json(config.training.batchSize)),
            ("distributed.overlap", try Self.json(config.distributed.overlap)),
            ("optimizer.preconditioner.maxFactorDimension", try Self.json(config.optimizer.preconditioner.factorDimensionLimit)),
            ("optimizer.preconditioner.factor.retraction", try Self.json(config.optimizer.preconditioner.factor.retraction)),
            ("optimizer.schedule", try Self.json(config.optimizer.schedule)),
            ("checkpoint.divergenceFactor", try Self.json(config.checkpoint.divergenceFactor)),
        ]
        for (path, value) in expected {
            #expect(Self.line(path)?.contains("default \(value);") == true, "\(path): \(Self.line(path) ?? "not listed")")
        }
        #expect(Self.line("name")?.contains("required") == true)
        #expect(Self.line("optimizer.type")?.contains("required; one of sgd, adamw, eigenShampoo, spectral") == true)
    }
}
