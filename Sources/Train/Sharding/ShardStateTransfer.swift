import Checkpoint
import Cluster
import Linalg
import Optim

/// Moving the shards' optimizer state between the ranks that own it and rank 0, which reads and
/// writes checkpoints. Saving streams the state to rank 0 one shard at a time (a `gatherv` from
/// the owner), never the whole state in one message. Resuming sends each shard's state from rank 0
/// to its owner under the current plan (a `scatterv`), so a run saved on N ranks continues on M.
///
/// A checkpoint names state by `ParameterShard.stateName`: a tensor cut into row bands for the
/// world size is saved whole (its bands' state joined in row order) and sliced again on resume,
/// so the files are those of an unbanded run.
extension ShardedUpdate {
    /// Every shard's optimizer state as a checkpoint holds it, gathered on rank 0 and named by
    /// `name(stateName, state)`; nil on the other ranks. All ranks call this.
    func gatherStates(named name: (String, String) -> String) throws(TrainError) -> [StoredTensor]? {
        let isRoot = communicator.rank == 0
        var sizes = [Int64](repeating: 0, count: shards.count)
        var payloads: [Int: [UInt8]] = [:]
        for index in shards.indices where plan.owners[index] == communicator.rank {
            let payload = ShardState.encode(optimizer.stateTensors(shard: index))
            payloads[index] = payload
            sizes[index] = Int64(payload.count)
        }
        var joined = JoinedStates(shards: shards)
        do {
            try communicator.allreduce(&sizes, operation: .sum)
            for index in shards.indices {
                let received = try communicator.gatherv(payloads[index] ?? [], partition: ownerPartition(index, bytes: sizes[index]), root: 0)
                if isRoot, let received { try joined.append(ShardState.decode(received, shard: shards[index].name), of: index) }
            }
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("checkpoint: \(error)")
        }
        return isRoot ? joined.states.map { StoredTensor($0.tensor, name: name($0.stateName, $0.tensor.name)) } : nil
    }

    /// The state tensors a checkpoint must hold to continue this run, as a fresh optimizer creates
    /// them, with the name of the shard (or banded tensor) they belong to.
    func expectedCheckpointStates() throws(TrainError) -> [(stateName: String, tensor: NamedTensor)] {
        var joined = JoinedStates(shards: shards)
        for (index, states) in try expectedStates().enumerated() { try joined.append(states, of: index) }
        return joined.states
    }

    /// The state tensors each shard has, as a fresh optimizer creates them.
    func expectedStates() throws(TrainError) -> [[NamedTensor]] {
        let reference = try freshOptimizer()
        return shards.indices.map { index in
            defer { reference.releaseState(shard: index) }
            return reference.stateTensors(shard: index)
        }
    }

    /// Sends each shard's state from rank 0, where `state(stateName, tensorName)` reads the
    /// checkpoint's tensor (validated against `expectedCheckpointStates`), to the shard's owner; a
    /// band gets its slice. All ranks call this; `state` is used on rank 0 only.
    func scatterStates(_ state: ((_ stateName: String, _ tensorName: String) -> NamedTensor)?) throws(TrainError) {
        let isRoot = communicator.rank == 0
        do {
            var payloads: [Int: [UInt8]] = [:]
            var sizes = [Int64](repeating: 0, count: shards.count)
            if isRoot, let state {
                // A banded tensor's bands are consecutive shards: read each of its state tensors once.
                var whole: (stateName: String, tensors: [String: NamedTensor]) = ("", [:])
                for (index, expected) in try expectedStates().enumerated() {
                    let shard = shards[index]
                    if shard.stateSlice != nil && whole.stateName != shard.stateName { whole = (shard.stateName, [:]) }
                    let payload = ShardState.encode(expected.map { tensor in
                        guard let slice = shard.stateSlice else { return state(shard.stateName, tensor.name) }
                        let stored = whole.tensors[tensor.name] ?? state(shard.stateName, tensor.name)
                        whole.tensors[tensor.name] = stored
                        guard case .float32(let values) = stored.storage else { return stored }
                        return NamedTensor(name: tensor.name, shape: [slice.count], values: Array(values[slice]))
                    })
                    payloads[index] = payload
                    sizes[index] = Int64(payload.count)
                }
            }
            try communicator.broadcast(&sizes, root: 0)
            for (index, shard) in shards.enumerated() {
                let received = try communicator.scatterv(isRoot ? payloads[index] : nil, partition: ownerPartition(index, bytes: sizes[index]), root: 0)
                if communicator.rank == plan.owners[index] {
                    try optimizer.restore(shard: index, from: ShardState.decode(received, shard: shard.name))
                }
            }
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("resume: \(error)")
        }
    }

    /// Moves shard `shard`'s state from rank `old` to rank `new` (a broadcast per state tensor).
    func moveState(of shard: Int, from old: Int, to new: Int) throws {
        var state = optimizer.stateTensors(shard: shard)
        for index in state.indices {
            switch state[index].storage {
            case .float32(var values):
                try communicator.broadcast(&values, root: old)
                state[index].storage = .float32(values)
            case .bfloat16(let bits):
                var bytes = bits.withUnsafeBytes { [UInt8]($0) }
                try communicator.broadcast(&bytes, root: old)
                state[index].storage = .bfloat16(bytes.withUnsafeBytes { [UInt16]($0.bindMemory(to: UInt16.self)) })
            case .int64(var values):
                try communicator.broadcast(&values, root: old)
                state[index].storage = .int64(values)
            }
        }
        if communicator.rank == new {
            try optimizer.restore(shard: shard, from: state)
        } else {
            optimizer.releaseState(shard: shard)
        }
    }

    /// A partition with all `bytes` of shard `index` on its owner.
    private func ownerPartition(_ index: Int, bytes: Int64) throws -> Partition {
        var counts = [Int](repeating: 0, count: communicator.size)
        counts[plan.owners[index]] = Int(bytes)
        return try Partition(counts: counts)
    }
}

/// Shards' state tensors in checkpoint form, built shard by shard in order: a shard's own state
/// as it is, a band's joined onto the earlier bands of its tensor (row order, one value per element).
struct JoinedStates {
    let shards: [ParameterShard]
    private(set) var states: [(stateName: String, tensor: NamedTensor)] = []
    /// Where each banded tensor's state tensors are in `states`, by "stateName/tensor".
    private var joinedAt: [String: Int] = [:]

    init(shards: [ParameterShard]) { self.shards = shards }

    mutating func append(_ tensors: [NamedTensor], of index: Int) throws(TrainError) {
        let shard = shards[index]
        for tensor in tensors {
            guard let slice = shard.stateSlice else {
                states.append((shard.stateName, tensor))
                continue
            }
            guard case .float32(let values) = tensor.storage, tensor.shape == [slice.count] else {
                throw TrainError("optimizer state '\(tensor.name)' of band \(shard.name) is \(tensor.shape), not one Float32 per element")
            }
            let key = "\(shard.stateName)/\(tensor.name)"
            let position = joinedAt[key]
            var joined = position.flatMap { states[$0].tensor.floats } ?? []
            guard joined.count == slice.lowerBound else {
                throw TrainError("optimizer state '\(tensor.name)' of band \(shard.name) does not follow its tensor's earlier bands")
            }
            guard let position else {
                joinedAt[key] = states.count
                states.append((shard.stateName, tensor))
                continue
            }
            // Drop the stored reference first, so that appending grows `joined` in place.
            states[position].tensor.storage = .float32([])
            joined += values
            states[position].tensor = NamedTensor(name: tensor.name, shape: [joined.count], values: joined)
        }
    }
}
