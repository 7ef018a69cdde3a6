@testable import Cluster
import Testing

@Suite("Single-process communicator")
struct SingleProcessCommunicatorTests {
    @Test("every collective passes the self-test at size 1")
    func selfTest() throws {
        let outcome = try CollectiveSelfTest.run(on: SingleProcessCommunicator(), largeCount: 1000)
        #expect(outcome.failures.isEmpty)
        #expect(outcome.failuresOnAllRanks == 0)
        #expect(outcome.checks >= 20)
    }

    @Test("collectives copy or keep the data")
    func semantics() throws {
        let communicator = SingleProcessCommunicator()
        var values: [Float] = [1, 2, 3]
        try communicator.allreduce(&values, operation: .sum)
        #expect(values == [1, 2, 3])
        let partition = try Partition(counts: [3])
        #expect(try communicator.reduceScatter(values, partition: partition, operation: .max) == values)
        #expect(try communicator.allgatherv(values, partition: partition) == values)
        #expect(try communicator.gather([Int64(7)], root: 0) == [7])
        #expect(try communicator.gather("host-a", root: 0) == ["host-a"])
        #expect(communicator.layout.size == 1 && communicator.layout.localSize == 1)
    }

    @Test("arguments are checked as under MPI")
    func argumentChecks() throws {
        let communicator = SingleProcessCommunicator()
        let twoRanks = try Partition(counts: [2, 2])
        #expect(throws: CommunicatorError.invalidArgument("reduceScatter: partition has 2 ranks, the job has 1")) {
            _ = try communicator.reduceScatter([Float](repeating: 0, count: 4), partition: twoRanks, operation: .sum)
        }
        let oneRank = try Partition(counts: [4])
        #expect(throws: CommunicatorError.invalidArgument("allgatherv: send buffer holds 3 elements, expected 4")) {
            _ = try communicator.allgatherv([Float](repeating: 0, count: 3), partition: oneRank)
        }
        var buffer: [Double] = [1]
        #expect(throws: CommunicatorError.invalidArgument("broadcast: root 1 outside 0..<1")) {
            try communicator.broadcast(&buffer, root: 1)
        }
    }
}

@Suite("Partitions")
struct PartitionTests {
    @Test("offsets are prefix sums; even splits give the first ranks the remainder")
    func offsets() throws {
        let partition = try Partition(counts: [3, 0, 5, 2])
        #expect(partition.offsets == [0, 3, 3, 8])
        #expect(partition.total == 10)
        #expect(partition.range(of: 2) == 3..<8)
        #expect(try Partition.even(total: 10, ranks: 3).counts == [4, 3, 3])
        #expect(try Partition.even(total: 2, ranks: 3).counts == [1, 1, 0])
    }

    @Test("bad counts are errors; different partitions have different fingerprints")
    func validation() throws {
        #expect(throws: CommunicatorError.invalidArgument("partition count -1 for rank 1 is negative")) {
            try Partition(counts: [2, -1])
        }
        #expect(throws: CommunicatorError.self) { try Partition(counts: []) }
        #expect(throws: CommunicatorError.self) { try Partition(counts: [Int(Int32.max), 1]) }
        #expect(try Partition(counts: [3, 5]).fingerprint == Partition(counts: [3, 5]).fingerprint)
        #expect(try Partition(counts: [3, 5]).fingerprint != Partition(counts: [5, 3]).fingerprint)
        #expect(try Partition(counts: [3, 5]).fingerprint != Partition(counts: [3, 5, 0]).fingerprint)
    }
}

@Suite("Collective signatures")
struct CollectiveSignatureTests {
    func gathered(_ signatures: [CollectiveSignature]) -> [Int64] {
        var buffer = [Int64](repeating: 0, count: signatures.count * CollectiveSignature.encodedCount)
        buffer.withUnsafeMutableBufferPointer { pointer in
            for (rank, signature) in signatures.enumerated() {
                signature.encode(into: pointer, at: rank * CollectiveSignature.encodedCount)
            }
        }
        return buffer
    }

    @Test("equal signatures agree; a different count is described rank by rank")
    func disagreement() {
        let ten = CollectiveSignature(kind: .allreduce, elementType: .float32, operationOrRoot: ReductionOperation.sum.rawValue, count: 10)
        var eleven = ten
        eleven.count = 11
        let same = gathered([ten, ten, ten])
        #expect(same.withUnsafeBufferPointer { CollectiveSignature.allAgree($0, ranks: 3) })
        let different = gathered([ten, eleven, ten])
        #expect(!different.withUnsafeBufferPointer { CollectiveSignature.allAgree($0, ranks: 3) })
        #expect(different.withUnsafeBufferPointer { CollectiveSignature.describeDisagreement($0, ranks: 3) }
            == "ranks 0,2 called allreduce(sum) of 10 Float32; rank 1 called allreduce(sum) of 11 Float32")
    }

    @Test("different calls, roots and types are told apart")
    func kinds() {
        let barrier = CollectiveSignature(kind: .barrier)
        let broadcast = CollectiveSignature(kind: .broadcast, elementType: .float64, operationOrRoot: 1, count: 4)
        let text = gathered([barrier, broadcast]).withUnsafeBufferPointer { CollectiveSignature.describeDisagreement($0, ranks: 2) }
        #expect(text == "rank 0 called barrier; rank 1 called broadcast from rank 1 of 4 Float64")
        var otherRoot = broadcast
        otherRoot.operationOrRoot = 0
        #expect(!gathered([broadcast, otherRoot]).withUnsafeBufferPointer { CollectiveSignature.allAgree($0, ranks: 2) })
        var otherType = broadcast
        otherType.elementType = .float32
        #expect(!gathered([broadcast, otherType]).withUnsafeBufferPointer { CollectiveSignature.allAgree($0, ranks: 2) })
    }
}

@Suite("Launch detection")
struct LaunchTests {
    @Test("mpirun's variables select MPI; SPECTRAIN_MPI overrides; bad values are errors")
    func detection() throws {
        #expect(try MPIRuntime.isLaunchedByMPI(environment: [:]) == false)
        #expect(try MPIRuntime.isLaunchedByMPI(environment: ["OMPI_COMM_WORLD_SIZE": "2"]) == true)
        #expect(try MPIRuntime.isLaunchedByMPI(environment: ["PMIX_RANK": "0"]) == true)
        #expect(try MPIRuntime.isLaunchedByMPI(environment: ["PMIX_RANK": "0", "SPECTRAIN_MPI": "off"]) == false)
        #expect(try MPIRuntime.isLaunchedByMPI(environment: ["SPECTRAIN_MPI": "on"]) == true)
        #expect(throws: CommunicatorError.launch("SPECTRAIN_MPI: 'maybe' is not one of auto, on, off")) {
            try MPIRuntime.isLaunchedByMPI(environment: ["SPECTRAIN_MPI": "maybe"])
        }
        #expect(MPIRuntime.launcherRank(environment: ["OMPI_COMM_WORLD_RANK": "3"]) == 3)
        #expect(MPIRuntime.launcherRank(environment: [:]) == nil)
    }

    @Test("the MPI library identifies itself before initialisation")
    func libraryVersion() {
        #expect(MPIRuntime.libraryVersion.contains("MPI"))
    }
}

@Suite("Ownership plans")
struct OwnershipPlanTests {
    @Test("longest-processing-time: every item owned, deterministic, greedy by decreasing cost")
    func greedy() {
        let plan = OwnershipPlan.longestProcessingTime(costs: [5, 1, 8, 3, 3, 0], ranks: 2)
        // 8 -> rank 0; 5 -> 1; 3 (item 3) -> 1 (5 < 8); 3 (item 4) -> 0 (8 = 8, lowest rank);
        // 1 -> 1 (8 < 11); 0 -> 1 (9 < 11).
        #expect(plan.owners == [1, 1, 0, 1, 0, 1])
        #expect(plan.loads == [11, 9])
        #expect(plan.items(ownedBy: 1) == [0, 1, 3, 5])
        #expect(OwnershipPlan.longestProcessingTime(costs: [5, 1, 8, 3, 3, 0], ranks: 2) == plan)
        #expect(abs(plan.imbalance - 1.1) < 1e-12)
    }

    @Test("one rank owns everything; more ranks than items leave ranks empty", arguments: [1, 3, 7])
    func edges(ranks: Int) {
        let plan = OwnershipPlan.longestProcessingTime(costs: [2, 2, 2], ranks: ranks)
        #expect(plan.owners.count == 3)
        #expect(plan.loads.reduce(0, +) == 6)
        if ranks == 1 { #expect(plan.owners == [0, 0, 0]) }
        if ranks >= 3 { #expect(Set(plan.owners).count == 3) }
    }

    @Test("the greedy plan meets Graham's bound: largest load <= total / m + (1 - 1/m) largest item")
    func bound() {
        var state: UInt64 = 7
        for _ in 0..<50 {
            let costs = (0..<9).map { _ -> Double in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Double(state >> 40 % 1000)
            }
            let plan = OwnershipPlan.longestProcessingTime(costs: costs, ranks: 3)
            let bound = costs.reduce(0, +) / 3 + (1 - 1.0 / 3) * costs.max()!
            #expect(plan.loads.max()! <= bound + 1e-9)
            #expect(plan.loads.reduce(0, +) == costs.reduce(0, +))
        }
    }
}

@Suite("ReplicaCheck")
struct ReplicaCheckTests {
    @Test("the fingerprint is FNV-1a of the words and sees a single flipped bit; one rank always agrees")
    func fingerprint() throws {
        #expect(ReplicaCheck.fingerprint([UInt64]()) == Int64(bitPattern: 0xcbf2_9ce4_8422_2325))
        // One step by hand: (offset ^ 1) * prime, wrapping.
        #expect(ReplicaCheck.fingerprint([UInt64(1)]) == Int64(bitPattern: (0xcbf2_9ce4_8422_2325 ^ 1) &* 0x0000_0100_0000_01b3))
        let values: [Float] = [1, 2, 3, -0.5]
        var flipped = values
        flipped[2] = Float(bitPattern: flipped[2].bitPattern ^ 1)
        #expect(ReplicaCheck.fingerprint(values.lazy.map { UInt64($0.bitPattern) })
                != ReplicaCheck.fingerprint(flipped.lazy.map { UInt64($0.bitPattern) }))
        #expect(try SingleProcessCommunicator().firstDisagreement([5, 7, 9]) == nil)
    }
}
