/// A covariance adaptation run that cannot go on, in one line.
public struct AdaptationError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in one line.
    public var description: String
    /// An error reading `description`.
    public init(_ description: String) { self.description = description }
}
