#!/usr/bin/env bash
# The test command: builds the package, runs the whole test suite, then compiles every Swift
# example in the documentation and runs the quick ones (Scripts/check-examples.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
ensure_packages pkg-config libopenblas-dev liblapacke-dev zlib1g-dev
swift build --build-tests
swift test
Scripts/check-examples.sh
# The readers' libFuzzer targets, 30 s each on their committed corpora (Fuzz/).
Scripts/fuzz.sh 30
