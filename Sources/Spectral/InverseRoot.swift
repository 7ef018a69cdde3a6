import Linalg
import Support

/// The damping `eps` added to the eigenvalues before a root is taken.
public enum RootDamping: Sendable, Equatable, Hashable {
    /// `eps = value * max(d)`: scale-free (ALGORITHM.md section 8 default: 1e-12 relative).
    case relative(Double)
    /// `eps = value`.
    case absolute(Double)

    /// The section 8 default, 1e-12 relative to the largest eigenvalue.
    public static let standard = RootDamping.relative(1e-12)

    /// `eps` for eigenvalues whose largest is `largest`.
    @inlinable
    public func epsilon<Scalar: LinalgScalar>(largest: Scalar) -> Scalar {
        switch self {
        case .relative(let value): return Scalar(value) * largest
        case .absolute(let value): return Scalar(value)
        }
    }
}

extension RootDamping: Codable, ConfigValueDescribing {
    package static var configShape: ConfigValueShape { .record(Fields.self) }

    /// The JSON form, `{"relative": 1e-12}` or `{"absolute": 1e-8}`: exactly one field set.
    private struct Fields: ConfigRecord {
        var relative: Double?
        var absolute: Double?

        static let fields: [ConfigField<Fields>] = [
            .init("relative", \.relative),
            .init("absolute", \.absolute),
            .check(summary: "exactly one of relative or absolute, a number >= 0") { fields in
                let given = [fields.relative, fields.absolute].compactMap { $0 }
                return given.count == 1 && given[0] >= 0 && given[0].isFinite ? nil : "give exactly one of 'relative' or 'absolute', a number >= 0"
            },
        ]

        static func defaults(given _: GivenFields<Fields>) -> Fields { Fields() }
    }

    public init(from decoder: any Decoder) throws {
        let fields = try Fields(from: decoder)
        self = fields.relative.map(RootDamping.relative) ?? .absolute(fields.absolute ?? 0)
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .relative(let value): try Fields(relative: value).encode(to: encoder)
        case .absolute(let value): try Fields(absolute: value).encode(to: encoder)
        }
    }
}

/// Applying `S^(-1/p) = B Diag((d + eps)^(-1/p)) B^T` to a matrix, for any real `p > 0`: the
/// reason to keep S in spectral form is that every root costs the same two GEMMs.
///
/// Shared by the spectral factors and the eigendecomposition reference, which differ only in
/// where `B` and `d` come from.
public enum InverseRoot {
    /// `scales[i] = (d_i + eps)^(-1/p)`; eigenvalues below zero (rounding in an eigensolver) are
    /// treated as zero.
    @inlinable
    public static func scales<Scalar: LinalgScalar>(
        eigenvalues: [Scalar], power: Double, damping: RootDamping, into scales: inout [Scalar]
    ) {
        precondition(power > 0 && power.isFinite, "InverseRoot: power \(power) is not a positive number")
        let largest = eigenvalues.max() ?? 0
        let epsilon = damping.epsilon(largest: Swift.max(largest, 0))
        let exponent = -1 / Scalar(power)
        if scales.count != eigenvalues.count { scales = [Scalar](repeating: 0, count: eigenvalues.count) }
        for index in eigenvalues.indices {
            scales[index] = Scalar.pow(Swift.max(eigenvalues[index], 0) + epsilon, exponent)
        }
    }

    /// `result = B Diag(scales) B^T G` for `G` of `k` rows (`scratch` holds `B^T G`).
    public static func applyLeft<Scalar: LinalgScalar>(
        eigenvectors: Matrix<Scalar>, scales: [Scalar], to gradient: Matrix<Scalar>,
        scratch: inout Matrix<Scalar>, into result: inout Matrix<Scalar>
    ) {
        scratch.resize(rows: eigenvectors.columns, columns: gradient.columns)
        BLAS.gemm(eigenvectors, gradient, transposeA: true, into: &scratch)
        scratch.scaleRows(by: scales)
        result.resize(rows: eigenvectors.rows, columns: gradient.columns)
        BLAS.gemm(eigenvectors, scratch, into: &result)
    }

    /// `result = G B Diag(scales) B^T` for `G` of `k` columns (`scratch` holds `G B`).
    public static func applyRight<Scalar: LinalgScalar>(
        eigenvectors: Matrix<Scalar>, scales: [Scalar], to gradient: Matrix<Scalar>,
        scratch: inout Matrix<Scalar>, into result: inout Matrix<Scalar>
    ) {
        scratch.resize(rows: gradient.rows, columns: eigenvectors.columns)
        BLAS.gemm(gradient, eigenvectors, into: &scratch)
        scratch.scaleColumns(by: scales)
        result.resize(rows: gradient.rows, columns: eigenvectors.rows)
        BLAS.gemm(scratch, eigenvectors, transposeB: true, into: &result)
    }
}

/// The dense root `S^(-1/p) = B Diag(s) B^T` of one side of a Kronecker block, kept while the
/// factor does not change, so that applying it costs one GEMM instead of two.
///
/// Forming it costs one k x k x k syrk (`k³` multiply-adds, half a GEMM's), as `C C^T` with
/// `C = B Diag(s^(1/2))` (the scales are positive). It pays off when the same root is applied
/// several times: Eigen-Shampoo between root recomputations, or a spectral factor updated every
/// T > 1 steps. Blocks use it by configuration (`denseRoots`), never by timing. The root is
/// rebuilt on the first use after the factor changes, so the arithmetic of a step depends only on
/// the state and the configuration, and a resumed run repeats an uninterrupted one bit for bit.
struct DenseRootCache<Scalar: LinalgScalar> {
    struct Key: Equatable {
        var version: Int
        var power: Double
        var damping: RootDamping
    }

    private var builtFor: Key?
    private var dense = Matrix<Scalar>(rows: 0, columns: 0)
    private var scratch = Matrix<Scalar>(rows: 0, columns: 0)
    private var halfScales: [Scalar] = []

    /// `B Diag(scales) B^T` for the factor state `version` (`scales` its inverse-root scales for
    /// `power` and `damping`), formed unless current.
    mutating func root(
        version: Int, power: Double, damping: RootDamping, eigenvectors: Matrix<Scalar>, scales: [Scalar]
    ) -> Matrix<Scalar> {
        let key = Key(version: version, power: power, damping: damping)
        if builtFor != key {
            // (B Diag(s^(1/2))) (B Diag(s^(1/2)))^T in one syrk: half a GEMM's work.
            halfScales.removeAll(keepingCapacity: true)
            for scale in scales { halfScales.append(scale.squareRoot()) }
            scratch.assign(eigenvectors)
            scratch.scaleColumns(by: halfScales)
            dense.resize(rows: eigenvectors.rows, columns: eigenvectors.rows)
            BLAS.syrk(scratch, into: &dense)
            builtFor = key
        }
        return dense
    }
}
