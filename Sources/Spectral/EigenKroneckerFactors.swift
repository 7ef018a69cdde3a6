import Linalg

/// Eigen-Shampoo's statistics for one `a x b` block: exact moving averages
/// `L <- (1 - beta2) L + beta2 G G^T`, `R <- (1 - beta2) R + beta2 G^T G` every update, and
/// their roots from LAPACK eigendecompositions when `refreshRoots()` is called (every T steps).
/// The baseline the spectral factors replace (ALGORITHM.md section 4).
public final class EigenKroneckerFactors<Scalar: LinalgScalar>: KroneckerBlock {
    /// `a`, the rows of the block and the size of `L`.
    public let rows: Int
    /// `b`, the columns of the block and the size of `R`.
    public let columns: Int
    /// `L` (a x a): the moving average of `G G^T` and its last eigendecomposition.
    public let left: EigenFactor<Scalar>
    /// `R` (b x b): the moving average of `G^T G` and its last eigendecomposition.
    public let right: EigenFactor<Scalar>
    /// Root recomputations that failed (the previous roots were kept).
    public var rootFailures = 0
    /// On by default: roots are reused for all the steps between two recomputations.
    public var usesDenseRoots = true
    /// Both sides alike: dense if either is asked for.
    public var denseRoots: (left: Bool, right: Bool) {
        get { (usesDenseRoots, usesDenseRoots) }
        set { usesDenseRoots = newValue.left || newValue.right }
    }

    private var intermediate = Matrix<Scalar>(rows: 0, columns: 0)
    private var leftRoots = DenseRootCache<Scalar>()
    private var rightRoots = DenseRootCache<Scalar>()
    private var scales: [Scalar] = []

    /// Statistics starting at `initialValue * I`, with roots to match.
    /// `stateDType`: bfloat16 rounds the statistics and eigenvectors as `EigenFactor` says.
    public init(rows: Int, columns: Int, curvatureLearningRate: Double, initialValue: Scalar = 1, stateDType: StateDType = .float32) {
        self.rows = rows
        self.columns = columns
        left = EigenFactor(
            dimension: rows, initialValue: initialValue, curvatureLearningRate: Scalar(curvatureLearningRate), stateDType: stateDType)
        right = EigenFactor(
            dimension: columns, initialValue: initialValue, curvatureLearningRate: Scalar(curvatureLearningRate), stateDType: stateDType)
    }

    /// Moves `L` towards `G G^T` and `R` towards `G^T G`, for the sides `rates` names, at the
    /// statistics' own `curvatureLearningRate` (the rates' values are not used); `factored` is not
    /// used either: the moving averages read `gradient`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func updateCurvature(gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>?, rates: FactorRates) throws(SpectralFactorError) {
        // The moving averages keep their own rate; `rates` only says which sides move.
        if rates.left != nil { left.update(curvatureFactor: gradient) }
        if rates.right != nil { right.update(curvatureFactor: gradient, transposed: true) }
    }

    /// Recomputes both roots; a failed eigendecomposition keeps the previous roots and is counted.
    public func refreshRoots() throws {
        for factor in [left, right] {
            do {
                try factor.recomputeRoot()
            } catch {
                rootFailures += 1
            }
        }
    }

    /// "`prefix`.L.statistic", ".L.eigenvectors" (both BF16 with bfloat16 state), ".L.eigenvalues",
    /// ".L.counters" (updates, indefinite roots), ".L.lowestEigenvalueRatio", the same for R, then
    /// "`prefix`.rootFailures".
    public func stateTensors(prefix: String) -> [NamedTensor] {
        var tensors: [NamedTensor] = []
        for (side, factor) in [("L", left), ("R", right)] {
            let k = factor.dimension
            for (name, matrix) in [("statistic", factor.statistic), ("eigenvectors", factor.eigenvectors)] {
                let fullName = "\(prefix).\(side).\(name)"
                switch factor.stateDType {
                case .float32: tensors.append(NamedTensor(name: fullName, shape: [k, k], values: matrix.elements))
                case .bfloat16: tensors.append(NamedTensor(name: fullName, shape: [k, k], bfloat16Bits: BFloat16Matrix.bits(matrix)))
                }
            }
            tensors.append(NamedTensor(name: "\(prefix).\(side).eigenvalues", shape: [k], values: factor.eigenvalues))
            tensors.append(NamedTensor(name: "\(prefix).\(side).counters", integers: [Int64(factor.updates), Int64(factor.indefiniteRoots)]))
            tensors.append(NamedTensor(name: "\(prefix).\(side).lowestEigenvalueRatio", shape: [1], values: [factor.lowestEigenvalueRatio]))
        }
        tensors.append(NamedTensor(name: "\(prefix).rootFailures", integers: [Int64(rootFailures)]))
        return tensors
    }

    public func restore(from saved: SavedState, prefix: String) throws(SavedStateError) {
        for (side, factor) in [("L", left), ("R", right)] {
            let k = factor.dimension
            let statistic: [Scalar] = try saved.floats("\(prefix).\(side).statistic", shape: [k, k])
            let vectors: [Scalar] = try saved.floats("\(prefix).\(side).eigenvectors", shape: [k, k])
            let values: [Scalar] = try saved.floats("\(prefix).\(side).eigenvalues", shape: [k])
            let counters = try saved.integers("\(prefix).\(side).counters", count: 2)
            let ratio: [Scalar] = try saved.floats("\(prefix).\(side).lowestEigenvalueRatio", shape: [1])
            do {
                try factor.restore(
                    statistic: Matrix(rows: k, columns: k, elements: statistic), eigenvalues: values,
                    eigenvectors: Matrix(rows: k, columns: k, elements: vectors), updates: Int(counters[0]),
                    indefiniteRoots: Int(counters[1]), lowestEigenvalueRatio: ratio[0])
            } catch {
                throw SavedStateError("\(prefix).\(side): \(error)")
            }
        }
        rootFailures = Int(try saved.integers("\(prefix).rootFailures", count: 1)[0])
    }

    /// Empty: the roots come from eigendecompositions, not spectral factors.
    public func measureHealth(prefix: String) -> [(name: String, health: FactorHealth)] { [] }

    /// `L^(-1/p) G R^(-1/p)` with the last computed roots: two GEMMs with dense roots formed once
    /// per root recomputation (as Distributed Shampoo stores them), or four in factored form.
    /// `factored` is not used: the roots are applied to `gradient`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func preconditionGradient(
        _ gradient: Matrix<Scalar>, factored: FactoredGradient<Scalar>? = nil, power: Double, damping: RootDamping,
        into result: inout Matrix<Scalar>
    ) {
        if usesDenseRoots {
            InverseRoot.scales(eigenvalues: left.eigenvalues, power: power, damping: damping, into: &scales)
            let leftRoot = leftRoots.root(version: left.rootVersion, power: power, damping: damping, eigenvectors: left.eigenvectors, scales: scales)
            InverseRoot.scales(eigenvalues: right.eigenvalues, power: power, damping: damping, into: &scales)
            let rightRoot = rightRoots.root(version: right.rootVersion, power: power, damping: damping, eigenvectors: right.eigenvectors, scales: scales)
            intermediate.resize(rows: gradient.rows, columns: gradient.columns)
            BLAS.gemm(leftRoot, gradient, into: &intermediate)
            result.resize(rows: gradient.rows, columns: gradient.columns)
            BLAS.gemm(intermediate, rightRoot, into: &result)
            return
        }
        left.applyInverseRoot(power: power, damping: damping, to: gradient, into: &intermediate)
        right.applyInverseRootFromRight(power: power, damping: damping, to: intermediate, into: &result)
    }
}
