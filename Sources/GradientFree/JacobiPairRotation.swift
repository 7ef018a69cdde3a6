import Foundation
import Linalg

/// The rotation of `CMASearch`'s basis from `E`, the off-diagonal change of `C` the basis has not
/// carried yet: each pair `(i, j)` turns by its Jacobi angle and is then settled as its own 2 x 2
/// problem `[[d_i, E_ij], [E_ij, d_j]]`, in `O(n²)` and without a matrix product (the equations
/// are on `CMASearch`):
///
///     theta_ij = atan(2 E_ij / (d_j - d_i)) / 2,   s = min(1, clip / ||Theta||_F),   phi = s theta_ij
///     d_i += g sin² phi - E_ij sin 2 phi (d_j the opposite),   E_ij <- E_ij cos 2 phi - (g/2) sin 2 phi
///
/// Unclipped, the Jacobi angle diagonalizes each pair (`E_ij <- 0`); what a clipped rotation does
/// not turn stays in `E`. The workspaces are sized once; nothing is allocated per rotation.
struct JacobiPairRotation {
    let dimension: Int
    /// The pairs' Jacobi angles, then the residual `E` of the rotation (upper triangles).
    private var pairAngles: Matrix<Double>
    /// The curvature whose gap-damped rotation (`SpectralFactor.step`) is the angles (upper triangle).
    private(set) var rotationInput: Matrix<Double>
    private var eigenvalueShift: [Double]

    init(dimension: Int) {
        self.dimension = dimension
        pairAngles = Matrix(rows: dimension, columns: dimension)
        rotationInput = pairAngles
        eigenvalueShift = [Double](repeating: 0, count: dimension)
    }

    /// Caps `E` (`change`) at `sqrt(d_i d_j)`, writes each pair's Jacobi angle into `pairAngles`
    /// and the curvature `theta (g² + delta d_i d_j) / g` that the factor's gap-damped rotation
    /// turns into it into `rotationInput` (upper triangles). Returns the factor's clip scale `s`.
    mutating func angles(of change: inout Matrix<Double>, eigenvalues: [Double], gapDamping delta: Double, rotationClip: Double?) -> Double {
        let n = dimension
        var normSquared = 0.0
        eigenvalues.withUnsafeBufferPointer { d in
            change.withUnsafeMutableBufferPointer { change in
                pairAngles.withUnsafeMutableBufferPointer { angles in
                    rotationInput.withUnsafeMutableBufferPointer { input in
                        for i in 0..<n {
                            for j in (i + 1)..<n {
                                let index = i * n + j
                                let bound = (d[i] * d[j]).squareRoot()
                                let offDiagonal = Swift.min(bound, Swift.max(-bound, change[index]))
                                change[index] = offDiagonal
                                let gap = d[j] - d[i]
                                let angle = gap == 0 ? 0 : 0.5 * Self.arctangent(2 * offDiagonal / gap)
                                angles[index] = angle
                                input[index] = gap == 0 ? 0 : angle * (gap * gap + delta * d[i] * d[j]) / gap
                                normSquared += 2 * angle * angle
                            }
                        }
                    }
                }
            }
        }
        let norm = normSquared.squareRoot()
        guard let clip = rotationClip, norm > clip else { return 1 }
        return clip / norm
    }

    /// Each pair of `change` (after `angles`) as its 2 x 2 problem turned by `phi = s theta`: the
    /// eigenvalues' shift goes into `logStep`, the off-diagonal left over replaces the angle in
    /// `pairAngles` (type comment).
    mutating func settle(_ change: Matrix<Double>, eigenvalues: [Double], scale: Double, logStep: inout [Double]) {
        let n = dimension
        for index in 0..<n { eigenvalueShift[index] = 0 }
        eigenvalues.withUnsafeBufferPointer { d in
            change.withUnsafeBufferPointer { change in
                pairAngles.withUnsafeMutableBufferPointer { angles in
                    eigenvalueShift.withUnsafeMutableBufferPointer { shift in
                        for i in 0..<n {
                            for j in (i + 1)..<n {
                                let index = i * n + j
                                let (offDiagonal, gap) = (change[index], d[j] - d[i])
                                let moved: Double
                                if gap == 0 {
                                    (moved, angles[index]) = (0, offDiagonal)
                                } else if scale == 1 {
                                    // The Jacobi angle diagonalizes the pair: tan theta = r / (1 + sqrt(1 + r²)).
                                    let ratio = 2 * offDiagonal / gap
                                    let tangent = ratio / (1 + (1 + ratio * ratio).squareRoot())
                                    (moved, angles[index]) = (-offDiagonal * tangent, 0)
                                } else {
                                    let twice = 2 * scale * angles[index]
                                    let (cosine, sine) = Self.cosineAndSine(twice)
                                    moved = 0.5 * gap * (1 - cosine) - offDiagonal * sine
                                    angles[index] = offDiagonal * cosine - 0.5 * gap * sine
                                }
                                shift[i] += moved
                                shift[j] -= moved
                            }
                        }
                    }
                }
            }
        }
        for index in 0..<n {
            logStep[index] += Foundation.log(Swift.min(2, Swift.max(0.5, 1 + eigenvalueShift[index] / eigenvalues[index])))
        }
    }

    /// `atan(x)`, by its series below 1e-2 (most pairs once the gaps have opened; error below
    /// x^9 / 9, under the rounding of x): the call dominates the `O(n²)` passes otherwise.
    @inline(__always)
    private static func arctangent(_ x: Double) -> Double {
        guard abs(x) < 1e-2 else { return Foundation.atan(x) }
        let square = x * x
        return x * (1 - square * (1.0 / 3 - square * (1.0 / 5 - square / 7)))
    }

    /// `(cos x, sin x)`, by their series below 1e-2 (errors below x^8 / 8! and x^9 / 9!).
    @inline(__always)
    private static func cosineAndSine(_ x: Double) -> (Double, Double) {
        guard abs(x) < 1e-2 else { return (Foundation.cos(x), Foundation.sin(x)) }
        let square = x * x
        return (1 - square * (0.5 - square * (1.0 / 24 - square / 720)), x * (1 - square * (1.0 / 6 - square * (1.0 / 120 - square / 5040))))
    }

    /// After an accepted rotation: the residual of `settle` becomes `E` (`change`), and `change`'s
    /// old storage the next rotation's workspace.
    mutating func takeResidual(into change: inout Matrix<Double>) {
        swap(&change, &pairAngles)
    }
}
