#!/usr/bin/env python3
"""An objective for `spectrain es` with "type": "command" and "protocol": "batch".

spectrain writes a batch: a line `batch <count>`, then <count> points, one per line (their
coordinates, separated by spaces). Answer with exactly <count> lines, one value each, in the
order of the points, and flush: spectrain waits "timeoutSeconds" for the whole batch. Under
mpirun each rank sends its share of an iteration's samples as one batch (f(mean) comes as a batch
of 1). This one computes Rosenbrock with the same arithmetic as the built-in and as
rosenbrock.py, so all three runs take the same steps.
"""
import sys


def rosenbrock(w):
    total = 0.0
    for i in range(len(w) - 1):
        valley = w[i + 1] - w[i] * w[i]
        offset = 1 - w[i]
        total += 100 * valley * valley + offset * offset
    return total


for header in sys.stdin:
    words = header.split()
    if len(words) != 2 or words[0] != "batch":
        sys.exit(f"rosenbrock_batch.py: expected 'batch <count>', got {header.strip()!r}")
    values = []
    for _ in range(int(words[1])):
        values.append(repr(rosenbrock([float(x) for x in sys.stdin.readline().split()])))
    sys.stdout.write("\n".join(values) + "\n")
    sys.stdout.flush()
