/// A collective that could not be carried out; the message names the call and the cause.
package enum CommunicatorError: Error, Equatable, CustomStringConvertible {
    /// An MPI call returned an error code; `message` is `MPI_Error_string` of it.
    case mpi(call: String, code: Int32, message: String)
    /// The ranks entered different collectives, or the same one with different sizes.
    case mismatch(String)
    /// A buffer or argument that does not fit the collective on this rank.
    case invalidArgument(String)
    /// The launch environment is unusable (a bad setting, MPI missing where it is required).
    case launch(String)
    /// Rank `rank` called `abort(code:)`: the group ended (a `ThreadCommunicator`; under MPI the
    /// process ends instead).
    case aborted(rank: Int, code: Int32)

    package var description: String {
        switch self {
        case .mpi(let call, let code, let message):
            return "\(call) failed: \(message) (MPI error \(code))"
        case .mismatch(let message):
            return "collective mismatch: \(message)"
        case .invalidArgument(let message):
            return "invalid collective argument: \(message)"
        case .launch(let message):
            return message
        case .aborted(let rank, let code):
            return "rank \(rank) aborted the job with status \(code)"
        }
    }
}
