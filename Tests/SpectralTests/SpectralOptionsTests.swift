import Foundation
import Spectral
import Support
import Testing

@Suite("Spectral options")
struct SpectralOptionsTests {
    func failure<Options: ConfigRecord>(_: Options.Type, _ json: String) -> String? {
        do {
            _ = try ConfigurationFile.decode(Options.self, from: Data(json.utf8), path: "o.json")
            return nil
        } catch {
            return error.message
        }
    }

    @Test("each ranged factor option rejects a value out of its range, naming the field", arguments: [
        (#"{"curvatureLearningRate": 0}"#, "curvatureLearningRate must be in (0, 1], got 0.0"),
        (#"{"curvatureLearningRate": 1.5}"#, "curvatureLearningRate must be in (0, 1], got 1.5"),
        (#"{"gapDamping": -1}"#, "gapDamping must be >= 0, got -1.0"),
        (#"{"rotationClip": 0}"#, "rotationClip must be > 0 (or null for none), got 0.0"),
        (#"{"curvatureDamping": -0.5}"#, "curvatureDamping must be >= 0, got -0.5"),
        (#"{"orthogonalityBound": 0}"#, "orthogonalityBound must be > 0, got 0.0"),
        (#"{"maxConsecutiveFailures": 0}"#, "maxConsecutiveFailures must be >= 1, got 0"),
        (#"{"retraction": "trunc9"}"#, "field 'retraction': 'trunc9' is not a retraction (trunc<r>+ns<n> with r in 1...8 and n in 0...8, cayley, expm)"),
    ])
    func factorOptions(json: String, message: String) {
        #expect(failure(SpectralFactorOptions.self, json) == message)
    }

    @Test("each ranged preconditioner option rejects a value out of its range, naming the field", arguments: [
        (#"{"power": -2}"#, "power must be a positive number, got -2.0"),
        (#"{"maxFactorDimension": 0}"#, "maxFactorDimension must be >= 1, got 0"),
        (#"{"initialEigenvalue": 0}"#, "initialEigenvalue must be > 0, got 0.0"),
        (#"{"factor": {"gapDamping": -1}}"#, "field 'factor': gapDamping must be >= 0, got -1.0"),
        (#"{"damping": {"relative": -1}}"#, "field 'damping': give exactly one of 'relative' or 'absolute', a number >= 0"),
        (#"{"damping": {"relative": 1, "absolute": 1}}"#, "field 'damping': give exactly one of 'relative' or 'absolute', a number >= 0"),
        (#"{"damping": {}}"#, "field 'damping': give exactly one of 'relative' or 'absolute', a number >= 0"),
        (#"{"damping": {"scale": 1}}"#, "field 'damping': unknown field 'scale' (allowed: relative, absolute)"),
        (#"{"mode": "full"}"#, "field 'mode': 'full' is not one of shampoo, kl"),
    ])
    func preconditionerOptions(json: String, message: String) {
        #expect(failure(PreconditionerOptions.self, json) == message)
    }

    @Test("the root power defaults by mode; rotationClip absent keeps 1, null turns clipping off")
    func defaults() throws {
        func decode<Options: ConfigRecord>(_: Options.Type, _ json: String) throws -> Options {
            try ConfigurationFile.decode(Options.self, from: Data(json.utf8), path: "o.json")
        }
        #expect(try decode(PreconditionerOptions.self, "{}") == PreconditionerOptions())
        #expect(PreconditionerOptions().power == 4 && PreconditionerOptions(mode: .kl).power == 2)
        #expect(try decode(PreconditionerOptions.self, #"{"mode": "kl"}"#).power == 2)
        #expect(try decode(PreconditionerOptions.self, #"{"mode": "kl", "power": 3}"#).power == 3)
        #expect(try decode(SpectralFactorOptions.self, "{}").rotationClip == 1)
        #expect(try decode(SpectralFactorOptions.self, #"{"rotationClip": null}"#).rotationClip == nil)
        #expect(try decode(PreconditionerOptions.self, #"{"damping": {"absolute": 1e-8}}"#).damping == .absolute(1e-8))
    }

    @Test("options built in code are checked as decoding checks them")
    func validation() {
        var options = PreconditionerOptions(mode: .kl, factor: .init(retraction: .truncated(order: 9, newtonSchulzSteps: 1)))
        #expect(options.validationError() == "factor.retraction: order must be in 1...8 and Newton-Schulz steps in 0...8")
        options.power = .infinity
        #expect(options.validationError() == "power must be a positive number, got inf")
        #expect(SpectralFactorOptions(orthogonalityBound: .infinity).validationError() == nil)
    }

    @Test("options decode from what they encode", arguments: [
        PreconditionerOptions(), PreconditionerOptions(mode: .kl, power: 3, damping: .absolute(1e-6), maxFactorDimension: 8, largeDimensions: .diagonal, initialEigenvalue: 0.5,
                                                       factor: .init(curvatureLearningRate: 0.2, gapDamping: 0, eigenvalueMap: .exp, retraction: .cayley, curvatureDamping: 1e-3)),
    ])
    func roundTrip(options: PreconditionerOptions) throws {
        #expect(try JSONDecoder().decode(PreconditionerOptions.self, from: JSONEncoder().encode(options)) == options)
    }
}
