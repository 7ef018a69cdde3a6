/// A data file that cannot be used: the file and the problem, in one line, so a run that cannot
/// start says exactly which file to fix.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file the problem is in.
    public var path: String
    /// What is wrong with it, one line without the path.
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
