/// The version of spectrain, recorded in checkpoints and printed by `spectrain --version`.
package enum SpectrainVersion {
    package static let current = "0.1.0"
}
