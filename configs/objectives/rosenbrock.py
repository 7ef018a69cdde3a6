#!/usr/bin/env python3
"""An objective for `spectrain es` with "type": "command": the protocol in a few lines.

spectrain writes one point per line (its coordinates, separated by spaces) and reads one value
per line. Flush after every answer: spectrain waits "timeoutSeconds" for each. Any language
works; this one computes Rosenbrock with the same arithmetic as the built-in, so both runs take
the same steps.
"""
import sys

for line in sys.stdin:
    w = [float(x) for x in line.split()]
    total = 0.0
    for i in range(len(w) - 1):
        valley = w[i + 1] - w[i] * w[i]
        offset = 1 - w[i]
        total += 100 * valley * valley + offset * offset
    print(repr(total), flush=True)
