import Foundation
import Linalg
import Support

/// A function seen through random noise, to test how a search copes with a noisy objective (as
/// pycma's noisy test functions and the BBOB noisy suite do): each evaluation returns
/// `f(x) exp(level g)` (multiplicative, BBOB's Gaussian noise: positive, relative to `f`) or
/// `f(x) + level g` (additive), with `g ~ N(0, 1)`.
///
/// `g` is a pure function of the seed, the evaluation round (`beginRound`) and the point's bits,
/// so a run draws the same noise on any number of ranks, while re-evaluating a point in another
/// round draws anew.
public final class NoisyObjective: ObjectiveFunction {
    /// How the noise enters.
    public enum Kind: String, NamedChoice {
        /// `f exp(level g)`.
        case multiplicative
        /// `f + level g`.
        case additive
    }

    /// The function without noise.
    public let wrapped: any ObjectiveFunction
    /// How the noise enters.
    public let kind: Kind
    /// The noise's standard deviation: of the added term (additive), or of the logarithm of the
    /// factor (multiplicative); finite and at least 0.
    public let level: Double
    private let seed: UInt64
    private var round: UInt64 = 0

    /// `wrapped` with noise of `kind` and `level`, drawn from `seed`.
    public init(_ wrapped: any ObjectiveFunction, kind: Kind, level: Double, seed: UInt64) {
        precondition(level >= 0 && level.isFinite, "NoisyObjective: level \(level)")
        (self.wrapped, self.kind, self.level, self.seed) = (wrapped, kind, level, seed)
    }

    /// The wrapped function's number of coordinates.
    public var dimension: Int { wrapped.dimension }

    public func beginRound(_ round: UInt64) {
        self.round = round
        wrapped.beginRound(round)
    }

    /// The wrapped function's value at `point`, with this round's noise for that point.
    public func value(_ point: UnsafeBufferPointer<Double>) throws -> Double {
        noisy(try wrapped.value(point), at: point)
    }

    public func values(of points: Matrix<Double>, rows: Range<Int>, into values: inout [Double]) throws {
        try wrapped.values(of: points, rows: rows, into: &values)
        let n = dimension
        points.withUnsafeBufferPointer { elements in
            for row in rows {
                values[row] = noisy(values[row], at: UnsafeBufferPointer(rebasing: elements[(row * n)..<((row + 1) * n)]))
            }
        }
    }

    /// `value` with the noise of this round at `point`.
    private func noisy(_ value: Double, at point: UnsafeBufferPointer<Double>) -> Double {
        var hash = seed ^ (round &* 0xD6E8_FEB8_6659_FD93)
        for coordinate in point {
            hash = (hash ^ coordinate.bitPattern) &* 0x0000_0100_0000_01B3
            hash ^= hash >> 29
        }
        var generator = SeededGenerator(seed: hash)
        let gaussian: Double = generator.nextGaussian()
        switch kind {
        case .multiplicative: return value * Foundation.exp(level * gaussian)
        case .additive: return value + level * gaussian
        }
    }
}
