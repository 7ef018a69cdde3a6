/// The version of spectrain, recorded in checkpoints and printed by `spectrain --version`.
public enum SpectrainVersion {
    public static let current = "0.1.0"
}
