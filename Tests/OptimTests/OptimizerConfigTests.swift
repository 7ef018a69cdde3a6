import Foundation
@testable import Optim
import Spectral
import Support
import Testing

@Suite("Optimizer configuration")
struct OptimizerConfigTests {
    @Test("each ranged field rejects a value out of its range, named in the optimizer's message", arguments: [
        (#""learningRate": 0"#, "field 'o': learningRate must be > 0, got 0.0"),
        (#""momentum": -0.1"#, "field 'o': momentum must be in [0, 1), got -0.1"),
        (#""momentumDampening": 1"#, "field 'o': momentumDampening must be in [0, 1), got 1.0"),
        (#""weightDecay": -1"#, "field 'o': weightDecay must be >= 0, got -1.0"),
        (#""beta1": 1"#, "field 'o': beta1 must be in [0, 1), got 1.0"),
        (#""beta2": 2"#, "field 'o': beta2 must be in [0, 1), got 2.0"),
        (#""epsilon": 0"#, "field 'o': epsilon must be > 0, got 0.0"),
        (#""curvatureInterval": 0"#, "field 'o': curvatureInterval must be >= 1, got 0"),
        (#""rootInterval": 0"#, "field 'o': rootInterval must be >= 1, got 0"),
        (#""graftingBeta2": -1"#, "field 'o': graftingBeta2 must be in [0, 1), got -1.0"),
        (#""graftingEpsilon": -1"#, "field 'o': graftingEpsilon must be > 0, got -1.0"),
        (#""preconditioner": {"maxFactorDimension": 0}"#, "field 'o.preconditioner': maxFactorDimension must be >= 1, got 0"),
        (#""schedule": {"type": "warmupCosine", "warmupSteps": -1}"#, "field 'o.schedule.warmupSteps': must be >= 0, got -1"),
        (#""schedule": {"type": "warmupCosine", "finalFraction": -0.5}"#, "field 'o.schedule.finalFraction': must be in [0, 1], got -0.5"),
        (#""schedule": {"type": "constant", "warmup": 3}"#, "field 'o.schedule': unknown field 'warmup' (allowed: type, warmupSteps, finalFraction)"),
    ])
    func outOfRange(field: String, message: String) {
        let json = #"{"o": {"type": "spectral", \#(field)}}"#
        #expect(throws: ConfigurationError("test.json", message)) {
            try ConfigurationFile.decode(Wrapper.self, from: Data(json.utf8), path: "test.json")
        }
    }

    @Test("learning rate and momentum default by type; a given value wins")
    func typeDependentDefaults() throws {
        #expect(try decode(#"{"type": "sgd"}"#) == OptimizerConfig(type: .sgd))
        #expect(OptimizerConfig(type: .sgd).learningRate == 0.05 && OptimizerConfig(type: .sgd).momentum == 0.9)
        #expect(OptimizerConfig(type: .adamw).learningRate == 1e-3 && OptimizerConfig(type: .adamw).momentum == 0)
        let adamw = try decode(#"{"type": "adamw", "momentum": 0.5}"#)
        #expect(adamw.momentum == 0.5 && adamw.learningRate == 1e-3)
        #expect(try decode(#"{"type": "eigenShampoo", "preconditioner": {"mode": "kl"}}"#).preconditioner.power == 2)
    }

    @Test("validationError names the field of a configuration built in code, nested ones by path")
    func validation() {
        var config = OptimizerConfig(type: .spectral)
        #expect(config.validationError() == nil)
        config.preconditioner.factor.curvatureLearningRate = 0
        #expect(config.validationError() == "preconditioner.factor.curvatureLearningRate must be in (0, 1], got 0.0")
        config.rootInterval = 0
        #expect(config.validationError() == "rootInterval must be >= 1, got 0")
    }

    @Test("a configuration and its schedule decode from what they encode", arguments: [
        LearningRateSchedule.constant, .warmupCosine(warmupSteps: 7, finalFraction: 0.25),
    ])
    func roundTrip(schedule: LearningRateSchedule) throws {
        var config = OptimizerConfig(type: .spectral)
        config.schedule = schedule
        config.preconditioner = PreconditionerOptions(mode: .kl, damping: .absolute(1e-6), factor: .init(rotationClip: 2))
        #expect(try JSONDecoder().decode(OptimizerConfig.self, from: JSONEncoder().encode(config)) == config)
        let encoded = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(schedule)) as? [String: Any])
        #expect(Set(encoded.keys) == (schedule == .constant ? ["type"] : ["type", "warmupSteps", "finalFraction"]))
    }
}

/// An optimizer configuration one level down, so that messages show where a problem is.
private struct Wrapper: ConfigRecord {
    var o: OptimizerConfig

    static let fields: [ConfigField<Wrapper>] = [.required("o", \.o)]

    static func defaults(given: GivenFields<Wrapper>) throws -> Wrapper {
        Wrapper(o: try given.required(\.o))
    }
}
