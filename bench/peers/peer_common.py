"""Shared by the Python peers: time a workload the way weft-bench does.

Each peer script takes CASE N RUNS, runs the case once as a warm-up (with a
tenth of N), then RUNS times, and prints one line the harness parses:
    result MEDIAN_NS MIN_NS
in nanoseconds per operation.
"""
import statistics
import sys
import time


def main(cases):
    case, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fn = cases[case]
    fn(max(n // 10, 1))
    per_op = []
    for _ in range(runs):
        seconds, ops = fn(n)
        per_op.append(seconds / ops * 1e9)
    print("result %.3f %.3f" % (statistics.median(per_op), min(per_op)))
