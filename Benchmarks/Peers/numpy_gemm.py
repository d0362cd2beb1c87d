#!/usr/bin/env python3
"""numpy's `a @ b` on bench-gemm's rows, timed the same way: median over many calls.

Prints JSON rows {precision, label, transposes, m, n, k, numpyGflops}. Transposed operands
are numpy views (a.T), which numpy hands to BLAS as transpose flags, like the tensor API.
Run it in the same session as bench-gemm (Scripts/bench-gemm-report.sh does both).
"""
import json
import sys
import time

import numpy as np

SQUARES = [64, 128, 256, 512, 1024, 2048]


def shapes(max_size):
    rows = [("square %d" % n, n, n, n, False, False) for n in SQUARES if n <= max_size]
    for ta in (False, True):
        for tb in (False, True):
            rows.append(("batch 128×794·794×794", 128, 794, 794, ta, tb))
    rows.append(("weight grad 794×128·128×794", 794, 794, 128, True, False))
    return rows


def measure(dtype, m, n, k, ta, tb, seconds):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    a_op = a.T if ta else a
    b_op = b.T if tb else b
    a_op @ b_op  # warm up
    start = time.perf_counter()
    a_op @ b_op
    single = max(time.perf_counter() - start, 1e-7)
    samples = int(min(2000, max(15, seconds / single)))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        a_op @ b_op
        times.append(time.perf_counter() - t0)
    return 2.0 * m * n * k / float(np.median(times)) / 1e9


def main():
    max_size = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    rows = []
    for precision, dtype in (("float", np.float32), ("double", np.float64)):
        for label, m, n, k, ta, tb in shapes(max_size):
            rows.append({
                "precision": precision, "label": label, "m": m, "n": n, "k": k,
                "transposes": ("T" if ta else "N") + ("T" if tb else "N"),
                "numpyGflops": measure(dtype, m, n, k, ta, tb, seconds),
            })
            print("  numpy", precision, label, rows[-1]["transposes"], file=sys.stderr)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
