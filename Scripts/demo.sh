#!/usr/bin/env bash
# The main job on a fresh machine: builds in release mode and runs the GEMM benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
ensure_packages pkg-config libopenblas-dev liblapacke-dev zlib1g-dev
swift build -c release --product bench-gemm
.build/release/bench-gemm --seconds-per-row 0.5
