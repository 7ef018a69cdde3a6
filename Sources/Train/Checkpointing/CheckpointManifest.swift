import Checkpoint
import Datasets
import Foundation
import Support

/// What a checkpoint's `manifest.json` says about the run (`CheckpointStore` adds the format and
/// every tensor's SHA-256): where the run stands, how it was spread over ranks, and the resolved
/// configuration and progress needed to continue it.
package struct CheckpointManifest: Codable, Sendable, Equatable {
    /// Steps completed.
    package var step: Int
    package var epoch: Double
    /// The next batch the sampler draws.
    package var samplerCursor: SamplerCursor
    /// The run's seed, as text: JSON numbers do not hold every 64-bit value.
    package var seed: String
    /// Why no generator state is saved.
    package var randomness: String
    /// Ranks of the job that saved it.
    package var worldSize: Int
    /// The rank that owned each shard, by shard name.
    package var ownership: [String: Int]
    package var config: TrainConfig
    /// A language model's characters, token 0 first (nil for an image model): `sample` and
    /// `eval` decode with them, and a resume checks the text still gives them.
    package var vocabulary: CharacterVocabulary?
    package var progress: TrainingProgress
    package var versions: Versions
    /// Added when the checkpoint is judged, after the rest (see `CheckpointWriter.save`).
    package var health: CheckpointHealth?

    package struct Versions: Codable, Sendable, Equatable {
        package var spectrain: String
        package var checkpoint: String
    }

    static let counterBasedRandomness =
        "counter-based: the sample order and dropout masks are pure functions of (seed, epoch or step, sample index); there is no generator state to save"
}

extension CheckpointManifest {
    /// The manifest as the JSON object a `CheckpointContents` carries.
    func jsonObject() throws(TrainError) -> [String: JSONValue] {
        guard case .object(let members) = try Self.jsonValue(self) else { throw TrainError("checkpoint: the manifest is not a JSON object") }
        return members
    }

    /// A part of the manifest as JSON, non-finite numbers written as "nan", "inf", "-inf".
    static func jsonValue(_ value: some Encodable) throws(TrainError) -> JSONValue {
        do {
            return try JSONValue(parsing: NonFiniteJSON.encoder().encode(value))
        } catch {
            throw TrainError("checkpoint: cannot describe the run (\(error))")
        }
    }

    /// Reads the manifest of a checkpoint read from `folder`.
    init(_ object: [String: JSONValue], folder: String) throws(TrainError) {
        do {
            self = try JSONValue.object(object).decoded(as: Self.self)
        } catch let error as DecodingError {
            throw TrainError("\((folder as NSString).appendingPathComponent("manifest.json")): does not describe a run (\(ConfigurationFile.describe(error)))")
        } catch {
            throw TrainError("\((folder as NSString).appendingPathComponent("manifest.json")): does not describe a run (\(error))")
        }
    }
}
