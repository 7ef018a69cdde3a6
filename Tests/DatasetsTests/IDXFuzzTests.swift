import Datasets
import Foundation
import Glibc
import Linalg
import Synchronization
import Testing

/// Draws for the fuzz cases from Linalg's seeded generator, so every case can be replayed from its seed.
fileprivate extension SeededGenerator {
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

/// Fuzz cases per test: a few thousand by default, `SPECTRAIN_FUZZ_CASES` for the long run.
private let fuzzCases = ProcessInfo.processInfo.environment["SPECTRAIN_FUZZ_CASES"].flatMap { Int($0) } ?? 3000

/// A message set by another thread.
private final class SharedMessage: Sendable {
    let value = Mutex<String?>(nil)
}

/// Runs `body` on another thread and waits at most `seconds`: a regression that blocks fails the
/// test instead of hanging it (`unblock` then releases the stuck thread).
private func finishes(within seconds: Double, unblock: () -> Void, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        body()
        done.signal()
    }
    if done.wait(timeout: .now() + seconds) == .success { return true }
    unblock()
    _ = done.wait(timeout: .now() + seconds)
    return false
}

@Suite("IDX reader on hostile input")
struct IDXFuzzTests {
    /// Asserts that reading `path` either gives a file consistent with its header or throws one
    /// line naming `path` (a trap would end the test process).
    private func checkRead(_ path: String, case index: Int) {
        do {
            let file = try IDXFile.read(path: path)
            #expect(file.bytes.count == file.count * file.elementType.byteWidth, "case \(index)")
            #expect((1...4).contains(file.dimensions.count) && file.dimensions.allSatisfy { $0 >= 1 }, "case \(index)")
        } catch {
            #expect(!error.description.contains("\n") && error.description.hasPrefix(path + ": "), "case \(index): \(error)")
        }
        do {
            _ = try IDXFile.readHeader(path: path)
        } catch {
            #expect(!error.description.contains("\n") && error.description.hasPrefix(path + ": "), "case \(index): \(error)")
        }
    }

    @Test("random bytes, and valid plain and gzip files with random mutations: a consistent file or a one-line error naming it")
    func mutatedFiles() throws {
        let directory = try TemporaryDirectory()
        let images = IDXFile(elementType: .uint8, dimensions: [3, 4, 5], bytes: noiseBytes(60)).encoded()
        let floats = IDXFile(elementType: .float32, dimensions: [2, 3], bytes: noiseBytes(24, seed: 7)).encoded()
        let labels = IDXFile(elementType: .uint8, dimensions: [9], bytes: [1, 2, 3, 4, 5, 6, 7, 8, 9]).encoded()
        var bases: [(bytes: [UInt8], gzip: Bool)] = [(images, false), (floats, false), (labels, false)]
        for (name, plain) in [("images", images), ("floats", floats), ("labels", labels)] {
            bases.append((try directory.writeGzip("base-\(name)", plain).compressed, true))
        }
        let path = directory.path + "/case"
        var random = SeededGenerator(seed: 0x1D_F0_22)
        for index in 0..<fuzzCases {
            let base = bases[random.below(bases.count)]
            var bytes = base.bytes
            switch random.below(8) {
            case 0:
                bytes = (0..<random.below(80)).map { _ in random.byte() }
            case 1:
                for _ in 0...random.below(4) where !bytes.isEmpty { bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8)) }
            case 2:
                bytes = Array(bytes.prefix(random.below(bytes.count + 1)))
            case 3 where !base.gzip:
                // A dimension made huge, zero or random.
                let axis = random.below(Int(bytes[3]))
                let value: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0x7F, 0xFF, 0xFF, 0xFF], (0..<4).map { _ in random.byte() }][random.below(4)]
                bytes.replaceSubrange((4 + 4 * axis)..<(8 + 4 * axis), with: value)
            case 4 where !base.gzip:
                bytes[2 + random.below(2)] = random.byte()
            case 5:
                bytes += (0..<1 + random.below(20)).map { _ in random.byte() }
            case 6 where base.gzip:
                // A second gzip member, or the first one repeated.
                bytes += bases[3 + random.below(3)].bytes
            default:
                let start = random.below(bytes.count)
                bytes.replaceSubrange(start..<min(bytes.count, start + random.below(8)), with: (0..<random.below(8)).map { _ in random.byte() })
            }
            try Foundation.Data(bytes).write(to: URL(fileURLWithPath: path))
            checkRead(path, case: index)
        }
    }

    @Test("a FIFO, a device and a directory are refused at once, without blocking")
    func nonRegularFiles() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let message = SharedMessage()
        let finished = finishes(within: 10, unblock: {
            // Opening the writing end and closing it gives a blocked reader end of file.
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
        }) {
            let text = dataError { _ = try IDXFile.read(path: fifo) }
            message.value.withLock { $0 = text }
        }
        #expect(finished, "reading a FIFO blocked")
        #expect(message.value.withLock { $0 } == "\(fifo): is a FIFO (named pipe), not a regular file")
        #expect(dataError { _ = try IDXFile.read(path: "/dev/null") } == "/dev/null: is a device, not a regular file")
        #expect(dataError { _ = try IDXFile.readHeader(path: directory.path) } == "\(directory.path): is a folder, not a regular file")
    }

    @Test("a gzip file inflating to far more than its header promises stops one byte past it")
    func decompressionBomb() throws {
        let directory = try TemporaryDirectory()
        // 64 MiB of zeros compress to about 64 KiB; the header promises 16 bytes.
        let bomb = try directory.writeGzip("bomb", idxHeader(type: 0x08, dimensions: [16]) + [UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.compressed.count < 1 << 20)
        let started = ContinuousClock.now
        #expect(dataError { _ = try IDXFile.read(path: bomb.path) }
            == "\(bomb.path): more bytes after the 16 bytes of data (dimensions 16, uint8); decompression stopped there")
        // Inflating all 64 MiB takes far longer than stopping after 17 bytes does (generous for debug builds).
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("header dimensions that overflow or disagree with the file size are one-line errors before any allocation")
    func headerSizes() throws {
        let directory = try TemporaryDirectory()
        let overflow = try directory.write("overflow", idxHeader(type: 0x0E, dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF]))
        #expect(dataError { _ = try IDXFile.read(path: overflow) }
            == "\(overflow): dimensions 4294967295 x 4294967295 x 4294967295 x 4294967295 claim more than 2^31 elements (corrupt header?)")
        // 2^31 one-byte elements promised by a 20-byte file: refused from the file size, not read.
        let promise = try directory.write("promise", idxHeader(type: 0x08, dimensions: [32768, 65536]) + [1, 2, 3, 4])
        #expect(dataError { _ = try IDXFile.read(path: promise) }
            == "\(promise): expected 2147483648 bytes of data, found 4 (dimensions 32768 x 65536, uint8)")
        let zero = try directory.writeGzip("zero", idxHeader(type: 0x08, dimensions: [3, 0])).path
        #expect(dataError { _ = try IDXFile.readHeader(path: zero) } == "\(zero): dimension 1 of 3 x 0 is zero")
    }

    @Test("a label the model cannot output names the label file and the sample")
    func labelBeyondTheModel() throws {
        let directory = try TemporaryDirectory()
        var labels = [UInt8](repeating: 3, count: 2000)
        labels[1234] = 201
        let trainLabels = try directory.writeGzip("train-labels-idx1-ubyte.gz", IDXFile(elementType: .uint8, dimensions: [2000], bytes: labels).encoded()).path
        let testLabels = try directory.write("test-labels", IDXFile(elementType: .uint8, dimensions: [2], bytes: [0, 9]).encoded())
        let config = DataConfig(trainImages: "unused", trainLabels: trainLabels, testImages: "unused", testLabels: testLabels)
        #expect(try config.labelProblem(classes: 10)?.description == "\(trainLabels): sample 1234 has label 201, the model has 10 classes")
        #expect(try config.labelProblem(classes: 202) == nil)
    }
}
