#!/usr/bin/env bash
# The main job on a fresh machine: release build, then the Jacobian spectrum analyzer —
# the default report, a random-weight comparison with free probability, and a σ × q0 sweep.
# Figures and data land in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
ensure_packages pkg-config libopenblas-dev liblapacke-dev zlib1g-dev
swift build -c release --product spectrum
mkdir -p out
spectrum=.build/release/spectrum

echo "== identity initialisation, σ = 1, q0 = 0.5 (science.md check value: 84.27 % at λ = 1)"
$spectrum --sigma 1.0 --q0 0.5 --plot out/spectrum-identity.svg --csv out/spectrum-identity.csv
echo
echo "== orthogonal ReLU at criticality, N = 1000, L = 8, against free probability"
$spectrum --init orthogonal --activation relu --sigma-w 1.4142135623730951 --width 1000 --layers 8 \
    --samples 4 --plot out/spectrum-orthogonal-relu.svg
echo
echo "== sweep over σ × q0 with the critical curve"
$spectrum sweep --output out/sweep
echo
echo "Figures: out/spectrum-identity.svg, out/spectrum-orthogonal-relu.svg, out/sweep/sweep.svg"
