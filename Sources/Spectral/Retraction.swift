import Linalg
import Support

/// How the eigenvectors move: a retraction of `B <- B Exp(K)` for skew-symmetric `K`.
public enum Retraction: Sendable, Equatable, Hashable {
    /// `B (I + K + K²/2 + ... + K^r/r!)` followed by `newtonSchulzSteps` polar steps
    /// `B <- 1.5 B - 0.5 B (B^T B)`. Matmul only. Default: order 2, one step.
    case truncated(order: Int, newtonSchulzSteps: Int)
    /// `B (I - K/2)^-1 (I + K/2)`: one LU solve, orthogonal up to rounding.
    case cayley
    /// The exact exponential of `K` (scaling and squaring); a reference, not for speed.
    case exact

    /// The default, `trunc(2)` with one Newton-Schulz step.
    public static let standard = Retraction.truncated(order: 2, newtonSchulzSteps: 1)

    /// Parses `trunc2`, `trunc2+ns1`, `trunc3+ns0`, `cayley`, `expm`.
    public init?(name: String) {
        let lowered = name.lowercased()
        switch lowered {
        case "cayley": self = .cayley
        case "expm", "exact": self = .exact
        default:
            guard lowered.hasPrefix("trunc") else { return nil }
            let parts = lowered.dropFirst("trunc".count).split(separator: "+", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let order = Int(parts[0]), (1...8).contains(order) else { return nil }
            var steps = 1
            if parts.count == 2 {
                guard parts[1].hasPrefix("ns"), let count = Int(parts[1].dropFirst(2)), (0...8).contains(count) else { return nil }
                steps = count
            }
            self = .truncated(order: order, newtonSchulzSteps: steps)
        }
    }

    /// The name `init(name:)` parses.
    public var name: String {
        switch self {
        case .truncated(let order, let steps): return "trunc\(order)+ns\(steps)"
        case .cayley: return "cayley"
        case .exact: return "expm"
        }
    }
}

extension Retraction: Codable, ConfigValueDescribing {
    /// The spellings `init(name:)` parses.
    static let spellings = "trunc<r>+ns<n> with r in 1...8 and n in 0...8, cayley, expm"

    package static var configShape: ConfigValueShape { .value("string: " + spellings) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Retraction(name: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "'\(text)' is not a retraction (\(Self.spellings))"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// Scratch matrices for retractions, kept by a factor across updates so a step does not allocate.
public final class RetractionWorkspace<Scalar: LinalgScalar> {
    var polynomial = Matrix<Scalar>(rows: 0, columns: 0)
    var product = Matrix<Scalar>(rows: 0, columns: 0)
    var gram = Matrix<Scalar>(rows: 0, columns: 0)
    var pingPong = Matrix<Scalar>(rows: 0, columns: 0)
    var rowSums: [Scalar] = []
    var lu = LUFactorization<Scalar>()

    /// An empty workspace: its buffers grow to the basis's size on first use.
    public init() {}
}

/// The running bound that lets the trunc(2) retraction skip its Newton-Schulz step while the
/// eigenvectors are still orthogonal enough (ALGORITHM.md section 2, "gated polar step").
///
/// With `P = I + K + K²/2` for skew `K`, `P^T P = I + K⁴/4` exactly, so with `E = B^T B - I` the
/// defect after `B <- B P` is `P^T E P + K⁴/4` and
///
///     ||E'||_F <= (1 + ||K||_F⁴ / 4) ||E||_F + ||K²||_F² / 4 + rounding
///
/// (`||K||_2 <= ||K||_F`). The polar step runs only when this bound passes `tolerance`; it
/// measures the defect it removes, and after it the bound restarts at `0.75 e² + 0.25 e³` (exact
/// algebra for the measured `e`) plus rounding; polar steps repeat until that is below the
/// tolerance.
public struct NewtonSchulzGate<Scalar: LinalgScalar> {
    /// The polar step runs when the bound would pass this.
    public var tolerance: Scalar
    /// A gated retraction runs at most this many polar steps at once (from a defect of 0.25,
    /// the largest one clipped step makes, three reach rounding level).
    public static var maxPolarSteps: Int { 4 }
    /// The bound on `||B^T B - I||_F` of the basis being moved.
    public var bound: Scalar

    /// A gate for a basis whose `||B^T B - I||_F` is at most `bound`: it runs the polar step when
    /// the next bound would pass `tolerance` (in this precision; `tolerance(float32:)` converts a
    /// Float32 figure).
    public init(tolerance: Scalar, bound: Scalar) {
        self.tolerance = tolerance
        self.bound = bound
    }

    /// The tolerance in this precision for one given for Float32: scaled by the ratio of unit
    /// roundoffs (1e-4 in Float32 is about 1.9e-13 in Float64), so that a Float64 factor stays
    /// as far above its rounding level as a Float32 one and keeps its extra digits.
    public static func tolerance(float32 tolerance: Double) -> Scalar {
        Scalar(tolerance * Double(Scalar.ulpOfOne) / Double(Float.ulpOfOne))
    }

    /// What one Float32 (or Float64) GEMM-based step of a `k x k` basis adds to `||B^T B - I||_F`
    /// by rounding, at most: `8 sqrt(k) u` (u the unit roundoff). The measured growth is about
    /// `sqrt(k) u` per step (Tests/SpectralTests/NewtonSchulzGateTests.swift), so this bounds it
    /// with a factor of 8 to spare.
    public static func roundingAllowance(dimension k: Int) -> Scalar {
        8 * Scalar(k).squareRoot() * Scalar.ulpOfOne / 2
    }
}

/// What a retraction did: the defect of the result, and whether a polar step ran.
public struct RetractionOutcome<Scalar: LinalgScalar> {
    /// `||result^T result - I||_F`: measured, or an upper bound (after a Newton-Schulz step, or
    /// when the gate skipped it). NaN if the input or result was not finite.
    public var defect: Scalar
    /// Whether Newton-Schulz steps ran.
    public var ranPolarStep: Bool
}

extension Retraction {
    /// Moves the orthogonal `basis` along the skew-symmetric `rotation`: `result ≈ basis Exp(rotation)`.
    ///
    /// With `gate` (trunc(2) with Newton-Schulz steps only; ignored otherwise) the polar steps run
    /// only when `NewtonSchulzGate`'s bound would pass its tolerance; `rotationNorm` is
    /// `||rotation||_F`. The returned defect is, after Newton-Schulz steps, the bound
    /// `0.75 e² + 0.25 e³` (`e` the error before the last step; exact algebra: with
    /// `X = B^T B = I + E`, one step gives `B'^T B' - I = -0.75 E² + 0.25 E³`) plus rounding when
    /// gated; the gate's bound when it skipped them; otherwise measured. Throws only if the
    /// Cayley system is singular.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply<Scalar: LinalgScalar>(
        to basis: Matrix<Scalar>, rotation: Matrix<Scalar>, rotationNorm: Scalar? = nil,
        gate: NewtonSchulzGate<Scalar>? = nil, workspace: RetractionWorkspace<Scalar>,
        into result: inout Matrix<Scalar>
    ) throws -> RetractionOutcome<Scalar> {
        let k = basis.rows
        precondition(basis.isSquare && rotation.rows == k && rotation.columns == k,
                     "Retraction: basis \(basis.rows) x \(basis.columns), rotation \(rotation.rows) x \(rotation.columns)")
        result.resize(rows: k, columns: k)
        switch self {
        case .truncated(let order, let steps):
            let gated = gate != nil && order == 2 && steps > 0
            let squareNorm = truncatedExponential(of: rotation, order: order, measuresSquare: gated, workspace: workspace)
            BLAS.gemm(basis, workspace.polynomial, into: &result)
            if steps == 0 { return RetractionOutcome(defect: Self.measureOrthogonality(result, workspace: workspace), ranPolarStep: false) }
            let rounding = NewtonSchulzGate<Scalar>.roundingAllowance(dimension: k)
            if gated, let gate {
                let norm = rotationNorm ?? rotation.frobeniusNorm
                let fourth = norm * norm * norm * norm
                let bound = (1 + fourth / 4) * gate.bound + squareNorm * squareNorm / 4 + rounding
                if bound <= gate.tolerance { return RetractionOutcome(defect: bound, ranPolarStep: false) }
            }
            // Ungated: `steps` polar steps. Gated: as many as bring the bound below the tolerance
            // (each squares the defect), at least one, at most `NewtonSchulzGate.maxPolarSteps`.
            var error: Scalar = 0
            var polished: Scalar = 0
            for step in 0..<(gated ? NewtonSchulzGate<Scalar>.maxPolarSteps : steps) {
                error = Self.newtonSchulzStep(&result, workspace: workspace)
                polished = 0.75 * error * error + 0.25 * error * error * error
                if let gate, gated, step + 1 >= steps, polished + rounding <= gate.tolerance { break }
            }
            return RetractionOutcome(defect: gated ? polished + rounding : polished, ranPolarStep: true)
        case .cayley:
            // B (I + K/2) (I - K/2)^-1 = 2 B (I - K/2)^-1 - B (the factors commute, and
            // I + K/2 = 2 I - (I - K/2)): one LU and one solve from the right, no product.
            workspace.polynomial.assign(rotation)
            workspace.polynomial.scale(by: -0.5)
            workspace.polynomial.addToDiagonal(1)
            try workspace.lu.factor(workspace.polynomial)
            result.assign(basis)
            try workspace.lu.solveFromRight(&result)
            result.scale(by: 2)
            result.add(basis, scaledBy: -1)
            return RetractionOutcome(defect: Self.measureOrthogonality(result, workspace: workspace), ranPolarStep: false)
        case .exact:
            workspace.polynomial = MatrixFunctions.exponential(rotation)
            BLAS.gemm(basis, workspace.polynomial, into: &result)
            return RetractionOutcome(defect: Self.measureOrthogonality(result, workspace: workspace), ranPolarStep: false)
        }
    }

    /// `workspace.polynomial = I + K + K²/2! + ... + K^r/r!`. Order 2 uses `K² = -K K^T` (K is
    /// skew) in one syrk; higher orders use Horner's rule, one GEMM per order above 1. Returns
    /// `||K²||_F` for order 2 with `measuresSquare` (one pass over `K²/2`), else 0.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func truncatedExponential<Scalar: LinalgScalar>(
        of rotation: Matrix<Scalar>, order: Int, measuresSquare: Bool, workspace: RetractionWorkspace<Scalar>
    ) -> Scalar {
        var squareNorm: Scalar = 0
        let k = rotation.rows
        workspace.polynomial.resize(rows: k, columns: k)
        switch order {
        case 1:
            workspace.polynomial.assign(rotation)
        case 2:
            BLAS.syrk(rotation, alpha: -0.5, beta: 0, into: &workspace.polynomial, mirror: false)
            workspace.polynomial.copyUpperToLower()
            if measuresSquare { squareNorm = 2 * workspace.polynomial.frobeniusNorm }
            workspace.polynomial.add(rotation)
        default:
            // P = I + K/r; P = I + K P / j for j = r-1 ... 1.
            workspace.polynomial.assign(rotation)
            workspace.polynomial.scale(by: 1 / Scalar(order))
            workspace.polynomial.addToDiagonal(1)
            workspace.product.resize(rows: k, columns: k)
            for j in stride(from: order - 1, through: 2, by: -1) {
                BLAS.gemm(rotation, workspace.polynomial, alpha: 1 / Scalar(j), into: &workspace.product)
                workspace.product.addToDiagonal(1)
                swap(&workspace.polynomial, &workspace.product)
            }
            BLAS.gemm(rotation, workspace.polynomial, into: &workspace.product)
            swap(&workspace.polynomial, &workspace.product)
        }
        workspace.polynomial.addToDiagonal(1)
        return squareNorm
    }

    /// One polar Newton-Schulz step `B <- 1.5 B - 0.5 B (B^T B)` in place; returns
    /// `||B^T B - I||_F` measured before the step.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func newtonSchulzStep<Scalar: LinalgScalar>(
        _ basis: inout Matrix<Scalar>, workspace: RetractionWorkspace<Scalar>
    ) -> Scalar {
        let k = basis.rows
        workspace.gram.resize(rows: k, columns: k)
        // Upper triangle only: symm reads no more.
        BLAS.syrk(basis, transpose: true, into: &workspace.gram, mirror: false)
        let error = workspace.gram.distanceToIdentityFromUpper(rowSums: &workspace.rowSums)
        workspace.pingPong.assign(basis)
        BLAS.symm(workspace.pingPong, symmetric: workspace.gram, alpha: -0.5, beta: 1.5, into: &basis)
        return error
    }

    /// `||B^T B - I||_F`, computed.
    static func measureOrthogonality<Scalar: LinalgScalar>(
        _ basis: Matrix<Scalar>, workspace: RetractionWorkspace<Scalar>
    ) -> Scalar {
        workspace.gram.resize(rows: basis.columns, columns: basis.columns)
        BLAS.syrk(basis, transpose: true, into: &workspace.gram)
        return distanceToIdentity(&workspace.gram)
    }

    /// `||X - I||_F` of a square matrix (X is restored afterwards).
    static func distanceToIdentity<Scalar: LinalgScalar>(_ matrix: inout Matrix<Scalar>) -> Scalar {
        matrix.addToDiagonal(-1)
        let distance = matrix.frobeniusNorm
        matrix.addToDiagonal(1)
        return distance
    }
}
