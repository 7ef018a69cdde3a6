import Checkpoint
import Linalg
import Spectral

/// A search's state as named Float64 and Int64 tensors, what a checkpoint of `spectrain es`
/// stores exactly, and the checked way back: every tensor present, of its type and shape, its
/// values finite where they must be.
public struct SearchState: Sendable {
    /// Every tensor, in the order added (or read): what a checkpoint stores.
    public private(set) var tensors: [StoredTensor] = []
    private var byName: [String: StoredTensor] = [:]

    /// An empty state to `add` tensors to.
    public init() {}

    /// A stored state to read back (names unique; of equal names, the first counts).
    public init(reading tensors: [StoredTensor]) {
        self.tensors = tensors
        byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether the state holds a tensor `name`.
    public func contains(_ name: String) -> Bool { byName[name] != nil }

    /// Adds the Float64 tensor `name` holding `values`, of `shape` (nil: a vector), whose element
    /// count must be `values.count`.
    public mutating func add(_ name: String, _ values: [Double], shape: [Int]? = nil) {
        append(StoredTensor(name: name, shape: shape ?? [values.count], doubles: values))
    }

    private mutating func append(_ tensor: StoredTensor) {
        tensors.append(tensor)
        if byName[tensor.name] == nil { byName[tensor.name] = tensor }
    }

    /// Adds `matrix` as the Float64 tensor `name` of shape `[rows, columns]`.
    public mutating func add(_ name: String, _ matrix: Matrix<Double>) {
        add(name, matrix.elements, shape: [matrix.rows, matrix.columns])
    }

    /// Adds the Int64 vector `name` (counters, kept exact).
    public mutating func add(_ name: String, integers: [Int]) {
        append(StoredTensor(name: name, shape: [integers.count], integers: integers.map { Int64($0) }))
    }

    /// The Float64 values of `name`, which must have `shape`; finite unless `allowingNonFinite`.
    public func doubles(_ name: String, shape: [Int], allowingNonFinite: Bool = false) throws(AdaptationError) -> [Double] {
        guard let tensor = byName[name] else { throw AdaptationError("search state '\(name)' is missing") }
        guard tensor.dtype == .float64, tensor.shape == shape else {
            throw AdaptationError("search state '\(name)' is \(tensor.shape) \(tensor.dtype.rawValue), expected \(shape) F64")
        }
        let values = tensor.doubles
        guard allowingNonFinite || values.allSatisfy(\.isFinite) else {
            throw AdaptationError("search state '\(name)' holds NaN or infinity")
        }
        return values
    }

    /// The Float64 values of the vector `name`, at most `maximum` of them, all finite.
    public func doubles(_ name: String, atMost maximum: Int) throws(AdaptationError) -> [Double] {
        let count = byName[name]?.shape.first ?? 0
        guard count <= maximum else { throw AdaptationError("search state '\(name)' holds \(count) values, more than \(maximum)") }
        return try doubles(name, shape: [count])
    }

    /// The Float64 values of the vector `name`, `count` of them, all finite.
    public func doubles(_ name: String, count: Int) throws(AdaptationError) -> [Double] {
        try doubles(name, shape: [count])
    }

    /// The one Float64 value `name` (shape `[1]`), finite unless `allowingNonFinite`.
    public func double(_ name: String, allowingNonFinite: Bool = false) throws(AdaptationError) -> Double {
        try doubles(name, shape: [1], allowingNonFinite: allowingNonFinite)[0]
    }

    /// The Float64 matrix `name`, of shape `[rows, columns]`, all finite.
    public func matrix(_ name: String, rows: Int, columns: Int) throws(AdaptationError) -> Matrix<Double> {
        Matrix(rows: rows, columns: columns, elements: try doubles(name, shape: [rows, columns]))
    }

    /// The Int64 values of `name`, `count` of them, each in `range`.
    public func integers(_ name: String, count: Int, in range: ClosedRange<Int> = 0...(1 << 53)) throws(AdaptationError) -> [Int] {
        guard let tensor = byName[name] else { throw AdaptationError("search state '\(name)' is missing") }
        guard tensor.dtype == .int64, tensor.shape == [count] else {
            throw AdaptationError("search state '\(name)' is \(tensor.shape) \(tensor.dtype.rawValue), expected [\(count)] I64")
        }
        let values = tensor.integers
        guard values.allSatisfy({ range.contains(Int($0)) }) else {
            throw AdaptationError("search state '\(name)' holds a value outside \(range.lowerBound)...\(range.upperBound)")
        }
        return values.map { Int($0) }
    }

    /// The one Int64 value `name` (shape `[1]`), in `range`.
    public func integer(_ name: String, in range: ClosedRange<Int> = 0...(1 << 53)) throws(AdaptationError) -> Int {
        try integers(name, count: 1, in: range)[0]
    }

    // MARK: - Spectral factors

    /// Adds `factor`'s learned state under `prefix`.
    public mutating func add(_ prefix: String, factor: SpectralFactorState<Double>) {
        add(prefix + ".eigenvectors", factor.eigenvectors)
        add(prefix + ".eigenvalues", factor.eigenvalues)
        add(prefix + ".defectBound", [factor.defectBound])
        add(prefix + ".counters", integers: [factor.updates, factor.failures, factor.consecutiveFailures, factor.polarSteps])
    }

    /// The factor state stored under `prefix`, of `dimension`, validated as a factor.
    public func factor(_ prefix: String, dimension: Int) throws(AdaptationError) -> SpectralFactorState<Double> {
        let counters = try integers(prefix + ".counters", count: 4)
        do {
            return try SpectralFactorState<Double>(
                eigenvectors: try matrix(prefix + ".eigenvectors", rows: dimension, columns: dimension),
                eigenvalues: try doubles(prefix + ".eigenvalues", count: dimension),
                updates: counters[0], failures: counters[1], consecutiveFailures: counters[2], polarSteps: counters[3],
                defectBound: try double(prefix + ".defectBound"))
        } catch let error as AdaptationError {
            throw error
        } catch {
            throw AdaptationError("search state '\(prefix)': \(error)")
        }
    }
}
