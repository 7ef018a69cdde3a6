import Foundation
@testable import GradientFree
import Support
import Testing

@Suite("Adaptation options")
struct AdaptationOptionsTests {
    @Test("each ranged option rejects a value out of its range at the field", arguments: [
        (#"{"populationSize": 3}"#, "field 'populationSize': must be in 4...100000, got 3"),
        (#"{"populationSize": 100001}"#, "field 'populationSize': must be in 4...100000, got 100001"),
        (#"{"meanLearningRate": 0}"#, "field 'meanLearningRate': must be in (0, 10], got 0.0"),
        (#"{"meanLearningRate": 11}"#, "field 'meanLearningRate': must be in (0, 10], got 11.0"),
        (#"{"covarianceLearningRate": 2}"#, "field 'covarianceLearningRate': must be in (0, 1], got 2.0"),
        (#"{"initialStepSize": 0}"#, "field 'initialStepSize': must be > 0, got 0.0"),
        (#"{"gapDamping": 0}"#, "field 'gapDamping': must be > 0, got 0.0"),
        (#"{"method": "cmaes"}"#, "field 'method': 'cmaes' is not one of cma, cmaExact, spectral, xnes"),
    ])
    func outOfRange(json: String, message: String) {
        #expect(throws: ConfigurationError("es.json", message)) {
            try ConfigurationFile.decode(AdaptationOptions.self, from: Data(json.utf8), path: "es.json")
        }
    }

    @Test("absent options take the defaults (CMA mode); given ones decode from what they encode")
    func defaultsAndRoundTrip() throws {
        #expect(try ConfigurationFile.decode(AdaptationOptions.self, from: Data("{}".utf8), path: "es.json") == AdaptationOptions())
        let options = AdaptationOptions(method: .xnes, populationSize: 12, covarianceLearningRate: 0.1, eigenvalueMap: .linear)
        #expect(try JSONDecoder().decode(AdaptationOptions.self, from: JSONEncoder().encode(options)) == options)
    }
}
