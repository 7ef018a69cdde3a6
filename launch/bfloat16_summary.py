"""One table row of launch/bench-bfloat16.sh for a finished run folder.

Reads summary.json (the final metric), metrics.jsonl (factor health records) and the latest
checkpoint's optim.safetensors (Eigen-Shampoo's counters), parsing the safetensors header itself so
that no package is needed.

    python3 launch/bfloat16_summary.py RUN_FOLDER CONFIG SEED DTYPE STATE_BYTES
"""
import json
import os
import struct
import sys


def final_metric(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    if summary.get("evaluation") == "validation" or "finalValidationLoss" in summary:
        return "loss %.4f" % summary.get("finalValidationLoss", summary.get("finalTestLoss"))
    return "%.2f%%" % (100 * summary["finalTestAccuracy"])


def health(run):
    largest, failures, polar, updates = None, 0, 0, 0
    last = {}
    for line in open(os.path.join(run, "metrics.jsonl")):
        record = json.loads(line)
        for name, factor in record.get("health", {}).items():
            largest = max(largest or 0.0, factor["orthogonalityError"])
            last[name] = factor
    for factor in last.values():
        failures += factor["failures"]
        polar += factor.get("polarSteps") or 0
        updates += factor.get("updates") or 0
    if largest is None:
        return "-", "-", "-"
    return "%.2e" % largest, str(failures), "%d / %d" % (polar, updates)


def eigen_counters(run):
    """Sums of `*.rootFailures` and of the second entry of `*.counters` next to a `.statistic`,
    and the lowest `*.lowestEigenvalueRatio`."""
    latest = open(os.path.join(run, "latest")).read().strip()
    path = os.path.join(run, latest, "optim.safetensors")
    if not os.path.exists(path):
        return "-", "-", "-"
    with open(path, "rb") as handle:
        length = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(length))
        base = 8 + length
        names = set(header)
        failures, indefinite, eigen, lowest = 0, 0, False, None

        def values(entry, code):
            start, end = entry["data_offsets"]
            handle.seek(base + start)
            data = handle.read(end - start)
            return struct.unpack("<%d%s" % (len(data) // struct.calcsize(code), code), data)

        def integers(entry):
            return values(entry, "q")

        for name, entry in header.items():
            if name == "__metadata__":
                continue
            if name.endswith(".lowestEigenvalueRatio") and entry.get("dtype") == "F32":
                ratio = values(entry, "f")[0]
                lowest = ratio if lowest is None else min(lowest, ratio)
            if entry.get("dtype") != "I64":
                continue
            if name.endswith(".rootFailures"):
                failures += integers(entry)[0]
            elif name.endswith(".counters") and name[: -len("counters")] + "statistic" in names:
                eigen = True
                indefinite += integers(entry)[1]
    if not eigen:
        return "-", "-", "-"
    return str(failures), str(indefinite), "-" if lowest is None else "%.1e" % lowest


def main():
    run, config, seed, dtype, state_bytes = sys.argv[1:6]
    largest, rejected, polar = health(run)
    failures, indefinite, lowest = eigen_counters(run)
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
          % (config, seed, dtype, final_metric(run), state_bytes, largest, rejected, polar, failures, indefinite, lowest))


if __name__ == "__main__":
    main()
