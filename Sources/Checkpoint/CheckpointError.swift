/// A checkpoint that cannot be written or used: one line naming the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
