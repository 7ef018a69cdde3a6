import Foundation

/// Picks an OpenBLAS kernel when OpenBLAS's own CPU detection falls back to an old one.
///
/// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise recent Xeons that report a generic
/// model and selects the SSE3 "Prescott" kernels: sgemm then runs about 6x slower than with the
/// AVX-512 "SkylakeX" kernels the CPU supports (measured in docs/benchmarks.md). OpenBLAS reads
/// `OPENBLAS_CORETYPE` only when the library loads, so the executable re-runs itself with it set
/// (`spectrain` does this before anything else, unless the variable is already set).
package enum BLASCoreSelection {
    /// Kernels OpenBLAS falls back to that are slower than what a modern x86-64 CPU supports.
    static let fallbackCores: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine",
        "northwood", "banias", "generic", "sandybridge", "unknown",
    ]

    /// The kernel to request instead of `detected`, or nil to keep it: SkylakeX when the CPU has
    /// AVX-512 F/BW/VL/DQ, Haswell when it has AVX2 and FMA.
    package static func betterCore(detected: String, cpuFlags: Set<String>) -> String? {
        guard fallbackCores.contains(detected.lowercased()) else { return nil }
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
        return nil
    }

    /// The instruction-set flags of the first CPU in /proc/cpuinfo (empty where it cannot be read).
    package static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
