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
    /// An upper bound on `||B^T B - I||_F` (0 for `B = I`): the Newton-Schulz gate's running
    /// bound (`NewtonSchulzGate`), kept in the state so that a resumed run gates alike.
    public var defectBound: Scalar
    /// Accepted updates whose retraction ran a Newton-Schulz step (how often the gate fired).
    public var polarSteps: Int

    /// `S = d0 I`: `B = I`, every eigenvalue `initialEigenvalue`.
    public init(dimension: Int, initialEigenvalue: Scalar = 1) {
        precondition(dimension >= 1, "SpectralFactorState: dimension \(dimension)")
        precondition(initialEigenvalue > 0, "SpectralFactorState: initial eigenvalue \(initialEigenvalue)")
        eigenvectors = .identity(dimension)
        eigenvalues = [Scalar](repeating: initialEigenvalue, count: dimension)
        updates = 0
        failures = 0
        consecutiveFailures = 0
        defectBound = 0
        polarSteps = 0
    }

    /// A state from stored parts (a checkpoint); throws if the shapes disagree or values are
    /// invalid. Without `defectBound` (a checkpoint from before the Newton-Schulz gate) the
    /// bound is the measured `||B^T B - I||_F`.
    public init(
        eigenvectors: Matrix<Scalar>, eigenvalues: [Scalar], updates: Int = 0, failures: Int = 0,
        consecutiveFailures: Int = 0, polarSteps: Int = 0, defectBound: Scalar? = nil
    ) throws(SpectralFactorError) {
        guard eigenvectors.isSquare, eigenvectors.rows == eigenvalues.count, !eigenvalues.isEmpty else {
            throw .invalidState("eigenvectors are \(eigenvectors.rows) x \(eigenvectors.columns) for \(eigenvalues.count) eigenvalues")
        }
        guard eigenvalues.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw .invalidState("eigenvalues must be finite and positive")
        }
        guard eigenvectors.allFinite else { throw .invalidState("eigenvectors contain NaN or infinity") }
        let (defect, frobenius) = Self.orthonormalityDefects(eigenvectors)
        guard defect <= Self.storedOrthonormalityTolerance else {
            throw .invalidState("eigenvectors are not orthonormal (max |B^T B - I| = \(defect))")
        }
        guard updates >= 0, failures >= 0, consecutiveFailures >= 0, polarSteps >= 0, polarSteps <= updates else {
            throw .invalidState("update counters out of range")
        }
        // A stored bound below the measured defect would let the gate skip polar steps it needs.
        if let defectBound {
            guard defectBound.isFinite, defectBound >= 0 else { throw .invalidState("orthogonality bound \(defectBound) is not finite and >= 0") }
            guard frobenius <= defectBound + Self.boundSlack(dimension: eigenvalues.count) else {
                throw .invalidState("orthogonality bound \(defectBound) is below the measured ||B^T B - I||_F = \(frobenius)")
            }
        }
        self.defectBound = defectBound ?? frobenius
        self.polarSteps = polarSteps
        self.eigenvectors = eigenvectors
        self.eigenvalues = eigenvalues
        self.updates = updates
        self.failures = failures
        self.consecutiveFailures = consecutiveFailures
    }

    /// How far stored eigenvectors are from orthonormal, `max |B^T B - I|`: every retraction keeps
    /// it near rounding level, so a larger one means a damaged or hand-made state.
    public static func orthonormalityDefect(_ eigenvectors: Matrix<Scalar>) -> Scalar {
        orthonormalityDefects(eigenvectors).largest
    }

    /// `max |B^T B - I|` and `||B^T B - I||_F`, from one product.
    static func orthonormalityDefects(_ eigenvectors: Matrix<Scalar>) -> (largest: Scalar, frobenius: Scalar) {
        let gram = BLAS.product(eigenvectors, eigenvectors, transposeA: true)
        var largest: Scalar = 0
        var squares: Scalar = 0
        for row in 0..<gram.rows {
            for column in 0..<gram.columns {
                let entry = gram[row, column] - (row == column ? 1 : 0)
                largest = max(largest, abs(entry))
                squares += entry * entry
            }
        }
        return (largest, squares.squareRoot())
    }

    /// The rounding of measuring `||B^T B - I||_F` itself, allowed between a stored bound and the
    /// measurement when a checkpoint is read.
    static func boundSlack(dimension k: Int) -> Scalar {
        NewtonSchulzGate<Scalar>.roundingAllowance(dimension: k)
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
    /// Applied: the factor moved to the new `B` and `d`.
    case accepted
    /// Rejected by the failure policy; the previous state was kept.
    case rejected(reason: String)

    /// Whether the update was applied.
    public var isAccepted: Bool { self == .accepted }
}
