/// A training run that cannot start or continue; one line, naming what failed.
public struct TrainError: Error, CustomStringConvertible, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
