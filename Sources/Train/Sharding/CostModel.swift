import Optim
import Spectral

/// The planned cost of one tensor's optimizer step, in flops-like units, for the ownership plan
/// (DESIGN.md: "a^3 + b^3 + a b (a + b)" per Kronecker block).
package enum CostModel {
    /// Factor updates and preconditioning for each block of a matrix under the spectral and
    /// Eigen-Shampoo optimizers; one unit per element for diagonal and elementwise optimizers.
    package static func cost(of tensor: ParameterInfo, optimizer: OptimizerConfig) -> Double {
        let elementwise = Double(tensor.count)
        switch optimizer.treatment(of: tensor) {
        case .elementwise, .preconditioned(.diagonal):
            return elementwise
        case .preconditioned(.blocks(let rowBands, let columnBands)):
            var total = 0.0
            for rowBlock in rowBands {
                for columnBlock in columnBands {
                    let (a, b) = (Double(rowBlock.count), Double(columnBlock.count))
                    total += a * a * a + b * b * b + a * b * (a + b)
                }
            }
            return total + elementwise
        }
    }
}
