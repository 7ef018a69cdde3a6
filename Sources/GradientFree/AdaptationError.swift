/// A covariance adaptation run that cannot go on, in one line.
public struct AdaptationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
