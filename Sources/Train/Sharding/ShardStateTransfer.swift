import Checkpoint
import Cluster
import Linalg
import Optim

/// Moving the shards' optimizer state between the ranks that own it and rank 0, which reads and
/// writes checkpoints. Saving streams the state to rank 0 one shard at a time (a `gatherv` from
/// the owner), never the whole state in one message. Resuming sends each shard's state from rank 0
/// to its owner under the current plan (a `scatterv`), so a run saved on N ranks continues on M.
extension ShardedUpdate {
    /// Every shard's optimizer state, gathered on rank 0 and named by `name(shard, state)`; nil
    /// on the other ranks. All ranks call this.
    func gatherStates(named name: (String, String) -> String) throws(TrainError) -> [StoredTensor]? {
        let isRoot = communicator.rank == 0
        var sizes = [Int64](repeating: 0, count: shards.count)
        var payloads: [Int: [UInt8]] = [:]
        for index in shards.indices where plan.owners[index] == communicator.rank {
            let payload = ShardState.encode(optimizer.stateTensors(shard: index))
            payloads[index] = payload
            sizes[index] = Int64(payload.count)
        }
        var stored: [StoredTensor] = []
        do {
            try communicator.allreduce(&sizes, operation: .sum)
            for index in shards.indices {
                let received = try communicator.gatherv(payloads[index] ?? [], partition: ownerPartition(index, bytes: sizes[index]), root: 0)
                if isRoot, let received {
                    for tensor in try ShardState.decode(received, shard: shards[index].name) {
                        stored.append(StoredTensor(tensor, name: name(shards[index].name, tensor.name)))
                    }
                }
            }
        } catch let error as TrainError {
            throw error
        } catch {
            throw TrainError("checkpoint: \(error)")
        }
        return isRoot ? stored : nil
    }

    /// The state tensors each shard has, as a fresh optimizer creates them: what a checkpoint must
    /// hold to continue this run.
    func expectedStates() throws(TrainError) -> [[NamedTensor]] {
        let reference = try freshOptimizer()
        return shards.indices.map { index in
            defer { reference.releaseState(shard: index) }
            return reference.stateTensors(shard: index)
        }
    }

    /// Sends each shard's state from rank 0, where `state(shard, expected)` reads it (from a
    /// checkpoint that has been validated), to the shard's owner. All ranks call this; `state`
    /// is used on rank 0 only.
    func scatterStates(_ state: ((_ shard: Int, _ expected: NamedTensor) -> NamedTensor)?) throws(TrainError) {
        let isRoot = communicator.rank == 0
        do {
            var payloads: [Int: [UInt8]] = [:]
            var sizes = [Int64](repeating: 0, count: shards.count)
            if isRoot, let state {
                for (index, expected) in try expectedStates().enumerated() {
                    let payload = ShardState.encode(expected.map { state(index, $0) })
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
