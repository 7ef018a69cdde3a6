import Foundation
import Support

/// One line of `metrics.jsonl`: the state of training at a logging step.
package struct MetricsRecord: Codable, Sendable, Equatable {
    /// Steps completed.
    package var step: Int
    /// Epochs completed, fractional.
    package var epoch: Double
    /// Mean training loss over the steps since the last line.
    package var loss: Double
    /// Training accuracy over the same steps.
    package var accuracy: Double
    package var learningRate: Double
    package var samplesPerSecond: Double
    /// Characters predicted per second, for a language model (loss and accuracy are then per
    /// character, the test values on the validation text).
    package var tokensPerSecond: Double?
    /// Seconds since the start of training, evaluation included.
    package var elapsedSeconds: Double
    /// Where the time since the last line went, in seconds.
    package var time: StepTimes
    package var testLoss: Double?
    package var testAccuracy: Double?
    /// Steps skipped so far because the loss or a gradient was not finite.
    package var skippedSteps: Int
    /// Per-factor health, when measured at this step.
    package var health: [String: FactorHealthRecord]?
}

/// Seconds spent per phase.
package struct StepTimes: Codable, Sendable, Equatable {
    package var data = 0.0
    package var forward = 0.0
    package var backward = 0.0
    /// Communication the rank was blocked by (exposed).
    package var communication = 0.0
    /// Communication in flight while the rank computed (hidden by overlap); not part of `total`.
    package var communicationHidden = 0.0
    package var curvature = 0.0
    package var precondition = 0.0
    package var optimizer = 0.0
    package var evaluation = 0.0
    package var checkpoint = 0.0

    package init() {}

    package var total: Double { data + forward + backward + communication + curvature + precondition + optimizer + evaluation + checkpoint }

    enum CodingKeys: String, CodingKey {
        case data, forward, backward, communication, communicationHidden, curvature, precondition, optimizer, evaluation, checkpoint
    }

    /// Missing phases read as 0.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func read(_ key: CodingKeys) throws -> Double { try container.decodeIfPresent(Double.self, forKey: key) ?? 0 }
        data = try read(.data)
        forward = try read(.forward)
        backward = try read(.backward)
        communication = try read(.communication)
        communicationHidden = try read(.communicationHidden)
        curvature = try read(.curvature)
        precondition = try read(.precondition)
        optimizer = try read(.optimizer)
        evaluation = try read(.evaluation)
        checkpoint = try read(.checkpoint)
    }

    static func + (lhs: StepTimes, rhs: StepTimes) -> StepTimes {
        var sum = lhs
        sum.data += rhs.data
        sum.forward += rhs.forward
        sum.backward += rhs.backward
        sum.communication += rhs.communication
        sum.communicationHidden += rhs.communicationHidden
        sum.curvature += rhs.curvature
        sum.precondition += rhs.precondition
        sum.optimizer += rhs.optimizer
        sum.evaluation += rhs.evaluation
        sum.checkpoint += rhs.checkpoint
        return sum
    }
}

/// A spectral factor's health as logged.
package struct FactorHealthRecord: Codable, Sendable, Equatable {
    package var orthogonalityError: Double
    package var minEigenvalue: Double
    package var maxEigenvalue: Double
    package var conditionNumber: Double
    package var failures: Int
    /// Accepted updates, and those whose retraction ran a Newton-Schulz step (the gate's firing
    /// count); absent in logs from before the gate.
    package var updates: Int?
    package var polarSteps: Int?
}

/// Appends JSON lines to `metrics.jsonl`, flushed line by line.
package final class MetricsWriter {
    private let handle: FileHandle
    private let encoder: JSONEncoder

    init(path: String, append: Bool) throws(TrainError) {
        let manager = FileManager.default
        if !append || !manager.fileExists(atPath: path) {
            guard manager.createFile(atPath: path, contents: nil) else { throw TrainError("\(path): cannot create the metrics file") }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw TrainError("\(path): cannot open the metrics file for writing") }
        self.handle = handle
        if append { handle.seekToEndOfFile() }
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = NonFiniteJSON.encoding
    }

    func write(_ record: MetricsRecord) throws(TrainError) {
        do {
            var line = try encoder.encode(record)
            line.append(UInt8(ascii: "\n"))
            try handle.write(contentsOf: line)
        } catch {
            throw TrainError("metrics.jsonl: cannot write (\(error))")
        }
    }

    deinit { try? handle.close() }
}
