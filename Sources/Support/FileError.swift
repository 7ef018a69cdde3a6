/// A file that cannot be used: the file and the problem, in one line ("PATH: problem"), so the
/// user knows exactly which file to fix. Configuration, data and checkpoint errors are all this.
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file (or folder) the problem is in.
    public var path: String
    /// What is wrong with it, one line without the path.
    public var message: String

    /// The problem `message` (one line, without the path) with the file at `path`.
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
