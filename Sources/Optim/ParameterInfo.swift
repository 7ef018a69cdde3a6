/// What an optimizer needs to know about one parameter tensor: its name and shape.
public struct ParameterInfo: Sendable, Equatable {
    /// The tensor's name, which the optimizer's error messages give.
    public var name: String
    /// The tensor's dimensions, outermost first (a convolution kernel's `[out, in, kh, kw]`).
    public var shape: [Int]

    /// Describes a tensor; `shape` must be non-empty with every dimension at least 1.
    public init(name: String, shape: [Int]) {
        precondition(!shape.isEmpty && shape.allSatisfy { $0 >= 1 }, "ParameterInfo: shape \(shape) of \(name)")
        self.name = name
        self.shape = shape
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Whether the tensor is a matrix (or a higher-order tensor read as one).
    public var isMatrix: Bool { shape.count >= 2 }

    /// The matrix the tensor is read as: `shape[0] x (product of the rest)` (a convolution kernel
    /// [out, in, kh, kw] becomes out x in·kh·kw), or `1 x n` for a vector.
    public var matrixShape: (rows: Int, columns: Int) {
        isMatrix ? (shape[0], count / shape[0]) : (1, count)
    }

    /// The shape a preconditioner is built for: `[rows, columns]` or `[n]`.
    public var preconditionerShape: [Int] {
        isMatrix ? [matrixShape.rows, matrixShape.columns] : [count]
    }
}

/// Time spent in the optimizer, split the way the trainer reports it.
public struct OptimizerTimings: Sendable, Equatable {
    /// Curvature updates (factor steps, moving averages, root recomputations).
    public var curvatureSeconds = 0.0
    /// Applying preconditioners (roots to gradients).
    public var preconditionSeconds = 0.0
    /// Everything else (moment updates, momentum, grafting, the parameter update).
    public var otherSeconds = 0.0

    /// No time spent yet.
    public init() {}
}

/// An optimizer step that cannot continue; the message names the tensor.
public struct OptimizerError: Error, CustomStringConvertible, Equatable {
    /// What went wrong, in one line naming the tensor.
    public var message: String

    /// An error reading `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
