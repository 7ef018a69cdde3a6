import Linalg

/// The learned state of one spectral factor `S = B Diag(d) B^T`: what a checkpoint stores.
public struct SpectralFactorState<Scalar: LinalgScalar>: Equatable, Sendable {
    /// `B`, orthogonal, `k x k`; column i is the eigenvector of `eigenvalues[i]`.
    public var eigenvectors: Matrix<Scalar>
    /// `d`, positive.
    public var eigenvalues: [Scalar]
    /// Updates applied.
    public var updates: Int
    /// Updates rejected by the failure policy, in total.
    public var failures: Int
    /// Updates rejected since the last accepted one.
    public var consecutiveFailures: Int

    /// `S = d0 I`: `B = I`, every eigenvalue `initialEigenvalue`.
    public init(dimension: Int, initialEigenvalue: Scalar = 1) {
        precondition(dimension >= 1, "SpectralFactorState: dimension \(dimension)")
        precondition(initialEigenvalue > 0, "SpectralFactorState: initial eigenvalue \(initialEigenvalue)")
        eigenvectors = .identity(dimension)
        eigenvalues = [Scalar](repeating: initialEigenvalue, count: dimension)
        updates = 0
        failures = 0
        consecutiveFailures = 0
    }

    /// A state from stored parts (a checkpoint); throws if the shapes disagree or values are invalid.
    public init(
        eigenvectors: Matrix<Scalar>, eigenvalues: [Scalar], updates: Int = 0, failures: Int = 0,
        consecutiveFailures: Int = 0
    ) throws(SpectralFactorError) {
        guard eigenvectors.isSquare, eigenvectors.rows == eigenvalues.count, !eigenvalues.isEmpty else {
            throw .invalidState("eigenvectors are \(eigenvectors.rows) x \(eigenvectors.columns) for \(eigenvalues.count) eigenvalues")
        }
        guard eigenvalues.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw .invalidState("eigenvalues must be finite and positive")
        }
        guard eigenvectors.allFinite else { throw .invalidState("eigenvectors contain NaN or infinity") }
        let defect = Self.orthonormalityDefect(eigenvectors)
        guard defect <= Self.storedOrthonormalityTolerance else {
            throw .invalidState("eigenvectors are not orthonormal (max |B^T B - I| = \(defect))")
        }
        guard updates >= 0, failures >= 0, consecutiveFailures >= 0 else {
            throw .invalidState("negative update counters")
        }
        self.eigenvectors = eigenvectors
        self.eigenvalues = eigenvalues
        self.updates = updates
        self.failures = failures
        self.consecutiveFailures = consecutiveFailures
    }

    /// How far stored eigenvectors are from orthonormal, `max |B^T B - I|`: every retraction keeps
    /// it near rounding level, so a larger one means a damaged or hand-made state.
    public static func orthonormalityDefect(_ eigenvectors: Matrix<Scalar>) -> Scalar {
        let gram = BLAS.product(eigenvectors, eigenvectors, transposeA: true)
        var defect: Scalar = 0
        for row in 0..<gram.rows {
            for column in 0..<gram.columns {
                defect = max(defect, abs(gram[row, column] - (row == column ? 1 : 0)))
            }
        }
        return defect
    }

    /// The largest `orthonormalityDefect` a stored state may have. A Float32 factor after its
    /// Newton-Schulz steps stays below 1e-5 (contract c); zeroed or scrambled eigenvectors are
    /// off by order 1, so 1e-2 separates them with room for rounding either way.
    public static var storedOrthonormalityTolerance: Scalar { 1e-2 }

    /// `B Diag(d) B^T` as a dense matrix (tests, references, inspection).
    public var matrix: Matrix<Scalar> {
        var scaled = eigenvectors
        scaled.scaleColumns(by: eigenvalues)
        var result = BLAS.product(scaled, eigenvectors, transposeB: true)
        result.symmetrize()
        return result
    }
}

/// Why an update was rejected, or why a factor cannot continue.
public enum SpectralFactorError: Error, Equatable, CustomStringConvertible {
    /// The failure policy rejected this many updates in a row; `lastReason` says why the last was.
    case tooManyFailures(count: Int, lastReason: String)
    /// Stored state that cannot be a factor.
    case invalidState(String)

    public var description: String {
        switch self {
        case .tooManyFailures(let count, let reason):
            return "\(count) consecutive factor updates rejected (last: \(reason))"
        case .invalidState(let message):
            return "invalid factor state: \(message)"
        }
    }
}

/// What became of one update.
public enum FactorUpdateOutcome: Equatable, Sendable {
    case accepted
    /// Rejected by the failure policy; the previous state was kept.
    case rejected(reason: String)

    public var isAccepted: Bool { self == .accepted }
}
