#!/usr/bin/env bash
# Runs bench-gemm and numpy's `a @ b` back to back in one session and prints the joined
# Markdown table that docs/benchmarks.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/bench-gemm}
mkdir -p "$out"
swift build -c release --product bench-gemm >&2
.build/release/bench-gemm --json > "$out/isometry.json"
python3 Benchmarks/Peers/numpy_gemm.py > "$out/numpy.json"
python3 Benchmarks/Peers/gemm_report.py "$out/isometry.json" "$out/numpy.json"
