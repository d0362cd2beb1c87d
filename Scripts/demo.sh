#!/usr/bin/env bash
# The main job on a fresh machine: train an identity-initialised MLP on Fashion-MNIST, then
# analyse it and the theory with the spectrum analyzer. Figures and data land in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
ensure_packages pkg-config libopenblas-dev liblapacke-dev zlib1g-dev dataset-fashion-mnist
swift build -c release --product spectrum
swift build -c release --product train
mkdir -p out
spectrum=.build/release/spectrum

echo "== train: 10-layer hard-tanh MLP, W = I, SGD, 5 epochs on Fashion-MNIST"
.build/release/train --output out/train
echo
echo "== the trained network's Jacobian spectrum beside the identity-initialisation law"
$spectrum --checkpoint out/train/checkpoint.safetensors --samples 4 --plot out/spectrum-trained.svg
echo
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
echo "Figures: out/train/curves.svg, out/train/layers.svg, out/spectrum-*.svg, out/sweep/sweep.svg"
