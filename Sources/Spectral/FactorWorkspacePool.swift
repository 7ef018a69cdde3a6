import Linalg

/// The workspaces of the spectral factors one optimizer updates one at a time (on one rank):
/// one `SpectralFactorWorkspace` per factor size and side, one `KroneckerWorkspace` per block
/// shape. A block's two factors never share (their `B` are read together), nor do two pools.
public final class FactorWorkspacePool<Scalar: LinalgScalar> {
    /// Which factor of a Kronecker block.
    public enum Side: Hashable, Sendable {
        /// `left` for a block's `S_L` (its rows side), `right` for its `S_R` (its columns side).
        case left, right
    }

    private struct FactorKey: Hashable {
        var dimension: Int
        var side: Side
    }

    private struct BlockKey: Hashable {
        var rows: Int
        var columns: Int
    }

    private var factors: [FactorKey: SpectralFactorWorkspace<Scalar>] = [:]
    private var blocks: [BlockKey: KroneckerWorkspace<Scalar>] = [:]

    /// An empty pool: workspaces are made on first request and kept for the pool's lifetime.
    public init() {}

    /// The workspace of `side` factors of size `dimension`.
    public func factorWorkspace(dimension: Int, side: Side) -> SpectralFactorWorkspace<Scalar> {
        let key = FactorKey(dimension: dimension, side: side)
        if let workspace = factors[key] { return workspace }
        let workspace = SpectralFactorWorkspace<Scalar>()
        factors[key] = workspace
        return workspace
    }

    /// The workspace of `rows x columns` blocks.
    public func blockWorkspace(rows: Int, columns: Int) -> KroneckerWorkspace<Scalar> {
        let key = BlockKey(rows: rows, columns: columns)
        if let workspace = blocks[key] { return workspace }
        let workspace = KroneckerWorkspace<Scalar>()
        blocks[key] = workspace
        return workspace
    }
}
