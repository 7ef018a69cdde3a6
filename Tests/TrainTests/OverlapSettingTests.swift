import Foundation
import Support
import Testing
@testable import Train

@Suite("distributed.overlap")
struct OverlapSettingTests {
    @Test("true, false and \"auto\" from JSON and --set; auto is the default and is written back as \"auto\"")
    func decodes() throws {
        #expect(try AutoBlockingTests.decode([]).distributed.overlap == .auto)
        #expect(try AutoBlockingTests.decode(["distributed.overlap=true"]).distributed.overlap == .on)
        #expect(try AutoBlockingTests.decode(["distributed.overlap=false"]).distributed.overlap == .off)
        #expect(try AutoBlockingTests.decode(["distributed.overlap=auto"]).distributed.overlap == .auto)
        let encoded = try JSONEncoder().encode([OverlapSetting.auto, .on, .off])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["auto",true,false]"#)
    }

    @Test("anything else is a one-line error naming the field", arguments: [
        ("sometimes", #"run.json: field 'distributed.overlap': must be true, false or "auto", got "sometimes""#),
        ("1", #"run.json: field 'distributed.overlap': must be true, false or "auto", got a value of another type"#),
    ])
    func rejects(value: String, message: String) {
        do {
            _ = try AutoBlockingTests.decode(["distributed.overlap=\(value)"])
            Issue.record("\(value) was accepted")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test("auto overlaps exactly when some bucket can travel while other layers compute; nothing overlaps on one rank")
    func autoFollowsBuckets() {
        #expect(OverlapSetting.auto.isOn(ranks: 2, hidable: 1))
        #expect(!OverlapSetting.auto.isOn(ranks: 4, hidable: 0))
        #expect(OverlapSetting.on.isOn(ranks: 2, hidable: 0) && !OverlapSetting.off.isOn(ranks: 2, hidable: 3))
        #expect(!OverlapSetting.on.isOn(ranks: 1, hidable: 3))
        #expect(OverlapSetting.auto.choice(ranks: 1, hidable: 2, buckets: 3) == nil && OverlapSetting.on.choice(ranks: 2, hidable: 2, buckets: 3) == nil)
    }

    @Test("hidable buckets: those without the earliest layer's parameters")
    func hidableBuckets() {
        // Tensors of layers 0, 0, 1 (w1, b1, w2): 10-float buckets give w2's blocks their own
        // buckets (hidable), w1's and b1's not; one 1 MB bucket holds everything (none hidable).
        let shards = InProcessShardingTests.shards()
        let small = GradientExchange.bucketGroups(shards: shards, tensorLayers: [0, 0, 1], bucketBytes: 40)
        let firstLayers = small.map { group in group.map { [0, 0, 1][shards[$0].tensor] }.min()! }
        #expect(GradientExchange.hidableBuckets(small, shards: shards, tensorLayers: [0, 0, 1]) == firstLayers.filter { $0 == 1 }.count)
        #expect(firstLayers.contains(1) && firstLayers.contains(0))
        let one = GradientExchange.bucketGroups(shards: shards, tensorLayers: [0, 0, 1], bucketBytes: 1 << 20)
        #expect(one.count == 1 && GradientExchange.hidableBuckets(one, shards: shards, tensorLayers: [0, 0, 1]) == 0)
    }
}
