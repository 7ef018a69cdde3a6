import Linalg

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

extension Retraction: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Retraction(name: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "'\(text)' is not a retraction (trunc<r>+ns<n> with r in 1...8 and n in 0...8, cayley, expm)"))
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
    var lu = LUFactorization<Scalar>()

    public init() {}
}

extension Retraction {
    /// Moves the orthogonal `basis` along the skew-symmetric `rotation`: `result ≈ basis Exp(rotation)`.
    ///
    /// Returns `||result^T result - I||_F`: after Newton-Schulz steps, the bound
    /// `0.75 e² + 0.25 e³` where `e` is the error before the last step (exact algebra: with
    /// `X = B^T B = I + E`, one step gives `B'^T B' - I = -0.75 E² + 0.25 E³`), otherwise measured.
    /// A NaN result means the input or the result was not finite. Throws only if the Cayley
    /// system is singular.
    public func apply<Scalar: LinalgScalar>(
        to basis: Matrix<Scalar>, rotation: Matrix<Scalar>, workspace: RetractionWorkspace<Scalar>,
        into result: inout Matrix<Scalar>
    ) throws -> Scalar {
        let k = basis.rows
        precondition(basis.isSquare && rotation.rows == k && rotation.columns == k,
                     "Retraction: basis \(basis.rows) x \(basis.columns), rotation \(rotation.rows) x \(rotation.columns)")
        result.resize(rows: k, columns: k)
        switch self {
        case .truncated(let order, let steps):
            truncatedExponential(of: rotation, order: order, workspace: workspace)
            BLAS.gemm(basis, workspace.polynomial, into: &result)
            if steps == 0 { return Self.measureOrthogonality(result, workspace: workspace) }
            var error: Scalar = 0
            for _ in 0..<steps {
                error = Self.newtonSchulzStep(&result, workspace: workspace)
            }
            return 0.75 * error * error + 0.25 * error * error * error
        case .cayley:
            // (I - K/2) Y = (I + K/2), then B Y.
            workspace.polynomial.assign(rotation)
            workspace.polynomial.scale(by: -0.5)
            workspace.polynomial.addToDiagonal(1)
            try workspace.lu.factor(workspace.polynomial)
            workspace.polynomial.assign(rotation)
            workspace.polynomial.scale(by: 0.5)
            workspace.polynomial.addToDiagonal(1)
            try workspace.lu.solve(&workspace.polynomial)
            BLAS.gemm(basis, workspace.polynomial, into: &result)
            return Self.measureOrthogonality(result, workspace: workspace)
        case .exact:
            workspace.polynomial = MatrixFunctions.exponential(rotation)
            BLAS.gemm(basis, workspace.polynomial, into: &result)
            return Self.measureOrthogonality(result, workspace: workspace)
        }
    }

    /// `workspace.polynomial = I + K + K²/2! + ... + K^r/r!`. Order 2 uses `K² = -K K^T` (K is
    /// skew) in one syrk; higher orders use Horner's rule, one GEMM per order above 1.
    private func truncatedExponential<Scalar: LinalgScalar>(
        of rotation: Matrix<Scalar>, order: Int, workspace: RetractionWorkspace<Scalar>
    ) {
        let k = rotation.rows
        workspace.polynomial.resize(rows: k, columns: k)
        switch order {
        case 1:
            workspace.polynomial.assign(rotation)
        case 2:
            BLAS.syrk(rotation, alpha: -0.5, beta: 0, into: &workspace.polynomial, mirror: false)
            workspace.polynomial.copyUpperToLower()
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
    }

    /// One polar Newton-Schulz step `B <- 1.5 B - 0.5 B (B^T B)` in place; returns
    /// `||B^T B - I||_F` measured before the step.
    static func newtonSchulzStep<Scalar: LinalgScalar>(
        _ basis: inout Matrix<Scalar>, workspace: RetractionWorkspace<Scalar>
    ) -> Scalar {
        let k = basis.rows
        workspace.gram.resize(rows: k, columns: k)
        // Upper triangle only: symm reads no more, and distanceToIdentity counts it twice.
        BLAS.syrk(basis, transpose: true, into: &workspace.gram, mirror: false)
        let error = distanceToIdentityFromUpper(&workspace.gram)
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

    /// `||X - I||_F` of a symmetric matrix stored in its upper triangle (the strict lower
    /// triangle is overwritten with zeros; the upper triangle and diagonal are kept).
    static func distanceToIdentityFromUpper<Scalar: LinalgScalar>(_ matrix: inout Matrix<Scalar>) -> Scalar {
        let n = matrix.rows
        matrix.addToDiagonal(-1)
        var diagonal: Scalar = 0
        matrix.withUnsafeMutableBufferPointer { values in
            for row in 0..<n {
                diagonal += values[row * n + row] * values[row * n + row]
                for column in 0..<row { values[row * n + column] = 0 }
            }
        }
        // ||X - I||² = diag² + 2 * (strict upper)²; the zeroed lower adds nothing to the norm.
        let all = matrix.frobeniusNorm
        matrix.addToDiagonal(1)
        return (2 * all * all - diagonal).squareRoot()
    }

    /// `||X - I||_F` of a square matrix (X is restored afterwards).
    static func distanceToIdentity<Scalar: LinalgScalar>(_ matrix: inout Matrix<Scalar>) -> Scalar {
        matrix.addToDiagonal(-1)
        let distance = matrix.frobeniusNorm
        matrix.addToDiagonal(1)
        return distance
    }
}
