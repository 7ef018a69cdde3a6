/// A training run that cannot start or continue; one line, naming what failed.
package struct TrainError: Error, CustomStringConvertible, Equatable {
    package var message: String
    /// Set on the other ranks when rank 0 has already reported the problem: they stop without
    /// printing it again.
    package var isQuiet = false
    /// Set when the run did not fail but stopped on a signal (the process exits with
    /// `StopSignals.exitCode`).
    package var stopped: TrainingStopped?

    package init(_ message: String, quiet: Bool = false) {
        self.message = message
        self.isQuiet = quiet
    }

    /// A run stopped by a signal; quiet on ranks other than 0.
    package init(_ stopped: TrainingStopped, quiet: Bool) {
        self.init(stopped.description, quiet: quiet)
        self.stopped = stopped
    }

    package var description: String { message }
}
