/// A training run that cannot start or continue; one line, naming what failed.
public struct TrainError: Error, CustomStringConvertible, Equatable {
    public var message: String
    /// Set on the other ranks when rank 0 has already reported the problem: they stop without
    /// printing it again.
    public var isQuiet = false

    public init(_ message: String, quiet: Bool = false) {
        self.message = message
        self.isQuiet = quiet
    }

    public var description: String { message }
}
