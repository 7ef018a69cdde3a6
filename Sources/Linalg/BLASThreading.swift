internal import COpenBLAS
import Foundation

/// How many threads OpenBLAS uses, and the start-up policy that sets it.
///
/// OpenBLAS starts one thread per core in every process. Under mpirun with several ranks on a
/// node that oversubscribes the cores many times over (steps up to 17x slower were measured), so
/// spectrain sets the count explicitly at start-up: cores available on this node / ranks on it.
public enum BLASThreading {
    /// The number of threads OpenBLAS uses now.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of OpenBLAS threads (at least 1).
    public static func setThreads(_ count: Int) {
        precondition(count >= 1, "BLASThreading.setThreads: \(count) threads")
        openblas_set_num_threads(Int32(clamping: count))
    }

    /// The CPU kernel OpenBLAS selected at load time (e.g. "Haswell").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build description (version, threading model, maximum threads).
    public static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config).trimmingCharacters(in: .whitespaces)
    }

    /// The cores this process may run on: its CPU affinity (mpirun may bind a rank to one core),
    /// or the online cores when the affinity cannot be read.
    package static func availableCores() -> Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }),
           let count = countCPUList(line.dropFirst("Cpus_allowed_list:".count)), count > 0 {
            return count
        }
        return onlineCores()
    }

    /// The cores online on this machine.
    package static func onlineCores() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// The number of CPUs in a Linux CPU list such as "0-3,8,10-11"; nil if it does not parse.
    package static func countCPUList<Text: StringProtocol>(_ list: Text) -> Int? {
        var total = 0
        for part in list.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            switch bounds.count {
            case 1:
                guard Int(bounds[0]) != nil else { return nil }
                total += 1
            case 2:
                guard let low = Int(bounds[0]), let high = Int(bounds[1]), low <= high else { return nil }
                total += high - low + 1
            default:
                return nil
            }
        }
        return total
    }

    /// The default thread count of a rank: the node's cores shared evenly among its ranks, never
    /// more than the cores the rank is allowed to run on, never fewer than one.
    package static func policyThreads(availableCores: Int, onlineCores: Int, ranksOnNode: Int) -> Int {
        let share = max(1, onlineCores / max(1, ranksOnNode))
        return max(1, min(availableCores, share))
    }
}

/// The thread count chosen at start-up and why, as `spectrain info` prints it.
package struct BLASThreadDecision: Sendable, Equatable {
    /// Threads this rank uses.
    package var threads: Int
    /// Where the number came from, e.g. "2 cores / 2 ranks on this node" or "SPECTRAIN_BLAS_THREADS".
    package var reason: String

    package init(threads: Int, reason: String) {
        self.threads = threads
        self.reason = reason
    }

    /// Decides the thread count: an explicit request (`--blas-threads`) first, then the
    /// environment variables `SPECTRAIN_BLAS_THREADS` and `OPENBLAS_NUM_THREADS`, then the policy.
    ///
    /// A request that is not a positive integer is an error naming where it came from.
    package static func resolve(
        requested: Int?, environment: [String: String],
        availableCores: Int, onlineCores: Int, ranksOnNode: Int
    ) throws(BLASThreadRequestError) -> BLASThreadDecision {
        if let requested {
            guard requested >= 1 else { throw BLASThreadRequestError(source: "--blas-threads", value: "\(requested)") }
            return BLASThreadDecision(threads: requested, reason: "--blas-threads")
        }
        for variable in ["SPECTRAIN_BLAS_THREADS", "OPENBLAS_NUM_THREADS"] {
            guard let text = environment[variable], !text.isEmpty else { continue }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 1 else {
                throw BLASThreadRequestError(source: variable, value: text)
            }
            return BLASThreadDecision(threads: value, reason: variable)
        }
        let threads = BLASThreading.policyThreads(
            availableCores: availableCores, onlineCores: onlineCores, ranksOnNode: ranksOnNode)
        let rankWord = ranksOnNode == 1 ? "rank" : "ranks"
        var reason = "\(onlineCores) cores / \(ranksOnNode) \(rankWord) on this node"
        if availableCores < onlineCores { reason += ", bound to \(availableCores)" }
        return BLASThreadDecision(threads: threads, reason: reason)
    }
}

/// A BLAS thread request that is not a positive integer.
package struct BLASThreadRequestError: Error, CustomStringConvertible, Equatable {
    /// Where the request came from: `--blas-threads` or an environment variable.
    package var source: String
    /// The text given.
    package var value: String

    package init(source: String, value: String) {
        self.source = source
        self.value = value
    }

    package var description: String {
        "\(source): '\(value)' is not a positive number of BLAS threads"
    }
}
