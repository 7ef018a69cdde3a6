import Dispatch

/// Splits loops of independent work (one sample's attention, a slice of an elementwise map)
/// over the cores that OpenBLAS would otherwise use, so scalar kernels and many small GEMMs run
/// on every core of the rank instead of one.
///
/// The worker count is `BLASThreading.threads`, the per-rank core share set at start-up. While
/// the workers run, OpenBLAS is set to one thread, so a GEMM called inside a worker runs on that
/// worker alone (OpenBLAS's threaded GEMM splits M or N, never K, so a product's value does not
/// depend on how many threads compute it). Each index is handled by exactly one worker and the
/// workers write disjoint memory, so results do not depend on the worker count or the order the
/// workers run in: a run stays bit-for-bit reproducible.
@usableFromInline package enum ParallelLoop {
    /// Runs `body(index)` for every index in `0..<count`, split over at most `workers`
    /// contiguous index ranges, one per worker. `body` must only write memory owned by its
    /// index (and by `worker` for scratch: `body(index, worker)` with `worker < workers`).
    @usableFromInline package static func forEach(count: Int, workers: Int = BLASThreading.threads, _ body: (_ index: Int, _ worker: Int) -> Void) {
        let workerCount = min(workers, count)
        guard workerCount > 1 else {
            for index in 0..<count { body(index, 0) }
            return
        }
        // `body` only touches memory that this call's caller owns and waits for: concurrentPerform
        // returns after every worker has finished, so nothing escapes the call.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            let saved = BLASThreading.threads
            BLASThreading.setThreads(1)
            DispatchQueue.concurrentPerform(iterations: workerCount) { worker in
                let range = chunk(worker, of: workerCount, count: count)
                for index in range { body(index, worker) }
            }
            BLASThreading.setThreads(saved)
        }
    }

    /// Runs `body(range)` over disjoint contiguous ranges covering `0..<count` (a flat elementwise
    /// map), split only when there are at least `minimumPerWorker` elements per worker, as a
    /// dispatch costs microseconds.
    @usableFromInline package static func forEachRange(
        count: Int, minimumPerWorker: Int = 16_384, workers: Int = BLASThreading.threads,
        _ body: (_ range: Range<Int>) -> Void
    ) {
        let workerCount = max(1, min(workers, count / max(1, minimumPerWorker)))
        guard workerCount > 1 else {
            body(0..<count)
            return
        }
        forEach(count: workerCount, workers: workerCount) { worker, _ in
            body(chunk(worker, of: workerCount, count: count))
        }
    }

    /// The number of chunks of `size` consecutive indices that cover `0..<count`.
    @inline(__always)
    package static func chunkCount(_ count: Int, size: Int) -> Int {
        (count + size - 1) / size
    }

    /// Runs `body(chunk, range, worker)` for the chunks of `size` consecutive indices covering
    /// `0..<count` (the last one shorter), spread over at most `workers` workers. The chunks
    /// depend on `size` alone, so results kept per chunk and combined in chunk order do not
    /// depend on the number of workers. `body` must only write memory owned by its chunk (and by
    /// `worker` for scratch).
    package static func forEachChunk(
        count: Int, size: Int, workers: Int = BLASThreading.threads,
        _ body: (_ chunk: Int, _ range: Range<Int>, _ worker: Int) -> Void
    ) {
        precondition(size >= 1, "ParallelLoop.forEachChunk: chunk size \(size)")
        forEach(count: chunkCount(count, size: size), workers: workers) { chunk, worker in
            let first = chunk * size
            body(chunk, first..<min(count, first + size), worker)
        }
    }

    /// Runs `body(row)` for every row of an `n x n` triangle (row `i` holding `n - i` or `i + 1`
    /// elements), split over the cores from `n = 256` on, rows paired long with short (0, n-1,
    /// 1, n-2, ...) so each worker gets about half the triangle. `body` must only write memory
    /// owned by its row.
    @usableFromInline package static func forEachTriangleRow(_ n: Int, _ body: (_ row: Int) -> Void) {
        forEach(count: n, workers: n >= splitDimension ? BLASThreading.threads : 1) { index, _ in
            body(pairedIndex(index, of: n))
        }
    }

    /// The matrix size from which O(n²) passes over a matrix are split across the cores: below
    /// it a dispatch costs more than the pass.
    @usableFromInline package static let splitDimension = 256

    /// The `index`-th of `0, count - 1, 1, count - 2, ...`: contiguous chunks of indices then
    /// hold near-equal work when item `i` costs about `i` (or `count - i`).
    @inline(__always)
    @usableFromInline package static func pairedIndex(_ index: Int, of count: Int) -> Int {
        index % 2 == 0 ? index / 2 : count - 1 - index / 2
    }

    /// The `worker`-th of `workers` near-equal contiguous ranges of `0..<count`.
    @inline(__always)
    static func chunk(_ worker: Int, of workers: Int, count: Int) -> Range<Int> {
        let (quotient, remainder) = count.quotientAndRemainder(dividingBy: workers)
        let start = worker * quotient + min(worker, remainder)
        return start..<(start + quotient + (worker < remainder ? 1 : 0))
    }
}
