#!/usr/bin/env bash
# The test command: builds the package and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
ensure_packages pkg-config libopenblas-dev liblapacke-dev zlib1g-dev
swift build --build-tests
swift test
