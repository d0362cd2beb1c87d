#!/usr/bin/env python3
"""Joins bench-gemm --json and numpy_gemm.py output into the Markdown table of docs/benchmarks.md."""
import json
import sys

ours = json.load(open(sys.argv[1]))
numpy = {(r["precision"], r["label"], r["transposes"]): r["numpyGflops"] for r in json.load(open(sys.argv[2]))}

print("| precision | shape | op | raw OpenBLAS GFLOP/s | tensor in-place | tensor allocating "
      "| in-place / raw | allocating / raw | % of peak | numpy `a @ b` | in-place / numpy |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in ours:
    np_gflops = numpy.get((r["precision"], r["label"], r["transposes"]))
    np_text = "%.1f" % np_gflops if np_gflops else "–"
    vs = "%.2f×" % (r["inPlaceGflops"] / np_gflops) if np_gflops else "–"
    print("| %s | %s | %s | %.1f | %.1f | %.1f | %.3f | %.3f | %.0f %% | %s | %s |" % (
        r["precision"], r["label"], r["transposes"], r["rawGflops"], r["inPlaceGflops"],
        r["allocatingGflops"], r["inPlaceRatio"], r["allocatingRatio"], r["percentOfPeak"], np_text, vs))
for precision in ("float", "double"):
    peak = max((r["rawGflops"] for r in ours if r["precision"] == precision), default=0)
    if peak:
        print("\nPeak %s in this run (best raw OpenBLAS figure): %.1f GFLOP/s." % (precision, peak))
