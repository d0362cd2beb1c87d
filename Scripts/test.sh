#!/usr/bin/env bash
# The test command: builds the package, checks the module graph (Scripts/check-architecture.sh),
# runs the whole test suite, compiles every Swift
# example in the documentation and runs the quick ones (Scripts/check-examples.sh), then builds
# and runs Examples/Research, a separate package that uses Isometry through its public API.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
ensure_packages pkg-config libopenblas-dev liblapacke-dev zlib1g-dev dataset-fashion-mnist
swift build --build-tests
# Imports against Package.swift, no Figures in the science modules, docs/architecture.md's table.
Scripts/check-architecture.sh
# The suites that measure the process's peak memory run alone, after the rest: beside the
# other suites (parallel, one process) a neighbour's buffers count in their peak.
memory_suites="SafetensorsHeaderMemoryTests|HostileIDXTests"
swift test --skip "$memory_suites"
swift test --skip-build --no-parallel --filter "$memory_suites"
Scripts/check-examples.sh
Scripts/check-report.sh
echo "Examples/Research: building against this checkout by path"
swift build --package-path Examples/Research
research_output=$(mktemp -d)
swift run --skip-build --package-path Examples/Research Research "$research_output"
rm -rf "$research_output"
# The readers' libFuzzer targets, 30 s each on their committed corpora (Fuzz/).
Scripts/fuzz.sh 30
