import Linalg
import Spectral
import Support

/// The preconditioning stage of the Spectral and Eigen-Shampoo optimizers for one tensor:
/// curvature updates on their schedule, then `direction <- P(direction)` with the tensor's
/// `ParameterPreconditioner` (Kronecker blocks, or the diagonal fallback for vectors).
///
/// Spectral blocks update their factors every `curvatureInterval` steps (default 1) and their
/// roots are always current. Eigen-Shampoo blocks update their moving averages every step and
/// recompute roots by eigendecomposition every `rootInterval` steps.
public final class KroneckerPreconditioning: TensorTransform {
    public enum Method: String, NamedChoice {
        case spectral, eigen
    }

    public let method: Method
    public let preconditioner: ParameterPreconditioner<Float>
    public let curvatureInterval: Int
    public let rootInterval: Int
    /// The gradient is multiplied by this before the curvature update (1, or sqrt(batch size)).
    public let curvatureScale: Float
    private let owner: String
    private var scaledGradient = Matrix<Float>(rows: 0, columns: 0)
    private var result = Matrix<Float>(rows: 0, columns: 0)

    public init(
        method: Method, tensor: ParameterInfo, options: PreconditionerOptions,
        curvatureInterval: Int, rootInterval: Int, curvatureScale: Float
    ) {
        self.method = method
        self.curvatureInterval = curvatureInterval
        self.rootInterval = rootInterval
        self.curvatureScale = curvatureScale
        self.owner = tensor.name
        switch method {
        case .spectral:
            preconditioner = ParameterPreconditioner(shape: tensor.preconditionerShape, options: options)
            // Factors that change every step are applied in factored form; with T > 1 a dense root
            // serves the T steps between updates.
            preconditioner.setUsesDenseRoots(curvatureInterval > 1)
        case .eigen:
            preconditioner = ParameterPreconditioner(shape: tensor.preconditionerShape, options: options) { rows, columns in
                EigenKroneckerFactors<Float>(
                    rows: rows, columns: columns, curvatureLearningRate: options.factor.curvatureLearningRate,
                    initialValue: Float(options.initialEigenvalue))
            }
        }
    }

    public func apply(direction: inout Matrix<Float>, gradient: Matrix<Float>, step: Int, timings: inout OptimizerTimings) throws(OptimizerError) {
        let updatesCurvature = method == .eigen || step % curvatureInterval == 0
        if updatesCurvature {
            try timed(&timings.curvatureSeconds) { () throws(OptimizerError) in
                var curvatureInput = gradient
                if curvatureScale != 1 {
                    scaledGradient.assign(gradient)
                    scaledGradient.scale(by: curvatureScale)
                    curvatureInput = scaledGradient
                }
                do {
                    try preconditioner.update(gradient: curvatureInput)
                    if method == .eigen && step % rootInterval == 0 { try preconditioner.refreshRoots() }
                } catch {
                    throw OptimizerError("\(owner): \(error)")
                }
            }
        }
        timed(&timings.preconditionSeconds) {
            preconditioner.preconditionGradient(direction, into: &result)
            swap(&direction, &result)
        }
    }

    // MARK: - State

    public func stateTensors() -> [NamedTensor] {
        switch preconditioner.structure {
        case .diagonal(let diagonal):
            return [NamedTensor(name: "diagonal.s", shape: [diagonal.curvature.count], values: diagonal.curvature)]
        case .blocks(let blocks):
            var tensors: [NamedTensor] = []
            for (index, block) in blocks.enumerated() {
                let prefix = "block\(index)"
                if let factors = block.factors as? KroneckerFactors<Float> {
                    for (side, factor) in [("L", factors.left), ("R", factors.right)] {
                        let state = factor.state
                        tensors.append(NamedTensor(name: "\(prefix).\(side).eigenvectors", shape: [state.eigenvalues.count, state.eigenvalues.count], values: state.eigenvectors.elements))
                        tensors.append(NamedTensor(name: "\(prefix).\(side).eigenvalues", shape: [state.eigenvalues.count], values: state.eigenvalues))
                        tensors.append(NamedTensor(name: "\(prefix).\(side).counters", integers: [Int64(state.updates), Int64(state.failures), Int64(state.consecutiveFailures)]))
                    }
                    tensors.append(NamedTensor(name: "\(prefix).scale", shape: [1], values: [factors.scale]))
                } else if let factors = block.factors as? EigenKroneckerFactors<Float> {
                    for (side, factor) in [("L", factors.left), ("R", factors.right)] {
                        let k = factor.dimension
                        tensors.append(NamedTensor(name: "\(prefix).\(side).statistic", shape: [k, k], values: factor.statistic.elements))
                        tensors.append(NamedTensor(name: "\(prefix).\(side).eigenvectors", shape: [k, k], values: factor.eigenvectors.elements))
                        tensors.append(NamedTensor(name: "\(prefix).\(side).eigenvalues", shape: [k], values: factor.eigenvalues))
                        tensors.append(NamedTensor(name: "\(prefix).\(side).updates", integers: [Int64(factor.updates)]))
                    }
                    tensors.append(NamedTensor(name: "\(prefix).rootFailures", integers: [Int64(factors.rootFailures)]))
                }
            }
            return tensors
        }
    }

    public func restore(_ tensors: [String: NamedTensor]) throws(OptimizerError) {
        switch preconditioner.structure {
        case .diagonal(let diagonal):
            let values = try required("diagonal.s", shape: [diagonal.curvature.count], in: tensors, owner: owner)
            do { try diagonal.restore(curvature: values) } catch { throw OptimizerError("\(owner): \(error)") }
        case .blocks(let blocks):
            for (index, block) in blocks.enumerated() {
                let prefix = "block\(index)"
                if let factors = block.factors as? KroneckerFactors<Float> {
                    func side(_ name: String, _ k: Int) throws(OptimizerError) -> SpectralFactorState<Float> {
                        let vectors = try required("\(prefix).\(name).eigenvectors", shape: [k, k], in: tensors, owner: owner)
                        let values = try required("\(prefix).\(name).eigenvalues", shape: [k], in: tensors, owner: owner)
                        let counters = try requiredIntegers("\(prefix).\(name).counters", count: 3, in: tensors, owner: owner)
                        do {
                            return try SpectralFactorState(
                                eigenvectors: Matrix(rows: k, columns: k, elements: vectors), eigenvalues: values,
                                updates: Int(counters[0]), failures: Int(counters[1]), consecutiveFailures: Int(counters[2]))
                        } catch {
                            throw OptimizerError("\(owner): \(prefix).\(name): \(error)")
                        }
                    }
                    let left = try side("L", factors.rows)
                    let right = try side("R", factors.columns)
                    let scale = try required("\(prefix).scale", shape: [1], in: tensors, owner: owner)[0]
                    do { try factors.restore(left: left, right: right, scale: scale) } catch { throw OptimizerError("\(owner): \(prefix): \(error)") }
                } else if let factors = block.factors as? EigenKroneckerFactors<Float> {
                    for (name, factor) in [("L", factors.left), ("R", factors.right)] {
                        let k = factor.dimension
                        let statistic = try required("\(prefix).\(name).statistic", shape: [k, k], in: tensors, owner: owner)
                        let vectors = try required("\(prefix).\(name).eigenvectors", shape: [k, k], in: tensors, owner: owner)
                        let values = try required("\(prefix).\(name).eigenvalues", shape: [k], in: tensors, owner: owner)
                        let updates = try requiredIntegers("\(prefix).\(name).updates", count: 1, in: tensors, owner: owner)[0]
                        do {
                            try factor.restore(
                                statistic: Matrix(rows: k, columns: k, elements: statistic), eigenvalues: values,
                                eigenvectors: Matrix(rows: k, columns: k, elements: vectors), updates: Int(updates))
                        } catch {
                            throw OptimizerError("\(owner): \(prefix).\(name): \(error)")
                        }
                    }
                    factors.rootFailures = Int(try requiredIntegers("\(prefix).rootFailures", count: 1, in: tensors, owner: owner)[0])
                }
            }
        }
    }

    /// Health of every spectral factor of this tensor (measured: one k³ product each).
    public func health() -> [(name: String, health: FactorHealth)] {
        guard case .blocks(let blocks) = preconditioner.structure else { return [] }
        var result: [(String, FactorHealth)] = []
        for (index, block) in blocks.enumerated() {
            if let factors = block.factors as? KroneckerFactors<Float> {
                result.append(("block\(index).L", factors.left.measureHealth()))
                result.append(("block\(index).R", factors.right.measureHealth()))
            }
        }
        return result
    }
}
