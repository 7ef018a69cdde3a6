import Foundation
import Linalg
import Testing
@testable import Train

@Suite("Text generation")
struct TextGeneratorTests {
    @Test("temperature 0 takes the most likely token (the lowest on ties), whatever the generator")
    func greedy() {
        let logits: [Float] = [0.5, 2, -1, 2, 1.9]
        var probabilities = [Double](repeating: 0, count: logits.count)
        for seed in 0..<20 {
            var generator = SeededGenerator(seed: UInt64(seed))
            let token = logits.withUnsafeBufferPointer { TextGenerator.draw(from: $0, temperature: 0, probabilities: &probabilities, using: &generator) }
            #expect(token == 1)
        }
    }

    /// 40,000 draws: each frequency's standard error is at most sqrt(0.25 / 40000) = 0.0025, so
    /// 0.015 (six of them) fails only for a wrong distribution, e.g. one without the temperature
    /// (off by 0.1 or more here) or with an off-by-one in the cumulative search.
    @Test("draws follow softmax(logits / temperature)", arguments: [1.0, 0.5, 2.0])
    func distribution(temperature: Double) {
        let logits: [Float] = [1, 0, -1, 2, 0.5]
        let weights = logits.map { exp(Double($0) / temperature) }
        let expected = weights.map { $0 / weights.reduce(0, +) }
        var counts = [Int](repeating: 0, count: logits.count)
        var probabilities = [Double](repeating: 0, count: logits.count)
        var generator = SeededGenerator(seed: 42)
        let draws = 40_000
        for _ in 0..<draws {
            let token = logits.withUnsafeBufferPointer { TextGenerator.draw(from: $0, temperature: temperature, probabilities: &probabilities, using: &generator) }
            counts[Int(token)] += 1
        }
        for (count, probability) in zip(counts, expected) {
            #expect(abs(Double(count) / Double(draws) - probability) < 0.015, "\(counts) against \(expected)")
        }
    }
}
