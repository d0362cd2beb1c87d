#!/usr/bin/env bash
# Builds the libFuzzer targets of the file readers with AddressSanitizer and runs each for
# SECONDS (default 30) on a copy of its committed corpus; fails on any crash, leak, timeout or
# out-of-memory. Usage: Scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: npy safetensors idx)
#
# Each target is Fuzz/<name>/*.swift (an @_cdecl("LLVMFuzzerTestOneInput") function) with a
# seed corpus in Fuzz/<name>/corpus and a dictionary Fuzz/<name>/<name>.dict. The readers are
# compiled from Sources/ by swiftc directly (not through SwiftPM), instrumented for coverage
# and ASan; swift-numerics (RealModule, which TensorAlgebra needs) comes from SwiftPM's
# checkout. Findings land in .build/fuzz/findings/<name>/; add a minimised crash to the corpus
# once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy safetensors idx)

build=.build/fuzz
modules="$build/modules"
mkdir -p "$modules"

numerics=.build/checkouts/swift-numerics/Sources
if [ ! -d "$numerics/RealModule" ]; then
    swift package resolve >/dev/null
fi

# The C module maps of Sources/ (CBLAS, CLAPACKE, CZlib, CBlockProducts) and their headers' include folders.
cflags=()
for flag in $(pkg-config --cflags openblas lapacke zlib 2>/dev/null); do cflags+=(-Xcc "$flag"); done
include=(-I "$modules" -I Sources/CBLAS -I Sources/CLAPACKE -I Sources/CZlib -I Sources/CBlockProducts/include
         -I "$numerics/_NumericsShims/include" "${cflags[@]}")
instrument=(-sanitize=fuzzer,address -g -Onone -parse-as-library -swift-version 6)

stamp() { date +%s; }
start=$(stamp)

# Rebuilds a module only when one of its inputs is newer than its object file.
module() {
    local name="$1" flags="$2"; shift 2
    local object="$build/$name.o"
    if [ -f "$object" ] && [ -z "$(find "$@" -newer "$object" 2>/dev/null | head -1)" ]; then return; fi
    echo "fuzz.sh: compiling $name"
    # shellcheck disable=SC2086
    swiftc $flags -parse-as-library -swift-version 6 -package-name Isometry -module-name "$name" -wmo -c "$@" \
        -emit-module -emit-module-path "$modules/$name.swiftmodule" "${include[@]}" -o "$object"
}
# A C target (CBlockProducts): its one .c file through clang, its module map in include/.
cmodule() {
    local name="$1" source="$2"
    local object="$build/$name.o"
    if [ -f "$object" ] && [ -z "$(find "Sources/$name" -newer "$object" 2>/dev/null | head -1)" ]; then return; fi
    echo "fuzz.sh: compiling $name (C)"
    clang -O2 -fPIC -I "Sources/$name/include" -c "$source" -o "$object"
}
# RealModule is a dependency, not under test: optimised, uninstrumented.
module RealModule "-O" "$numerics"/RealModule/*.swift
# The readers under test and what they stand on: Networks (the model's checkpoint reader and
# validator, which the safetensors target goes through) and its dependencies, in the order
# Package.swift gives (Scripts/lib/manifest.sh), so this list cannot drift from it.
. Scripts/lib/manifest.sh
libraries=("$build/RealModule.o")
for name in $(manifest_module_order Networks); do
    mapfile -t files < <(find "Sources/$name" -name '*.swift' | sort)
    if [ ${#files[@]} -eq 0 ]; then
        mapfile -t csources < <(find "Sources/$name" -name '*.c' | sort)
        [ ${#csources[@]} -eq 1 ] || { echo "fuzz.sh: $name has no Swift sources and ${#csources[@]} C files, expected one" >&2; exit 1; }
        cmodule "$name" "${csources[0]}"
    else
        module "$name" "${instrument[*]}" "${files[@]}"
    fi
    libraries+=("$build/$name.o")
done
read -r -a link <<<"$(pkg-config --libs openblas lapacke zlib 2>/dev/null || echo -lopenblas -llapacke -lz)"

status=0
for target in "${targets[@]}"; do
    binary="$build/fuzz-$target"
    sources=(Fuzz/"$target"/*.swift)
    if [ ! -f "$binary" ] || [ -n "$(find "${sources[@]}" "${libraries[@]}" -newer "$binary" | head -1)" ]; then
        echo "fuzz.sh: linking $target"
        swiftc "${instrument[@]}" -package-name Isometry -module-name "Fuzz_$target" "${sources[@]}" "${include[@]}" \
            "${libraries[@]}" "${link[@]}" -o "$binary" 2>"$build/link-$target.log" \
            || { cat "$build/link-$target.log" >&2; exit 1; }
    fi
    # A copy of the corpus, so new inputs found in this run do not touch the repository.
    corpus="$build/corpus/$target"
    findings="$build/findings/$target"
    rm -rf "$corpus" && mkdir -p "$corpus" "$findings"
    cp Fuzz/"$target"/corpus/* "$corpus"/
    # Inputs up to 1 MB for the .npy and safetensors readers: a rank-30000 header (90 kB) and
    # headers of many tiny values are cases of their own. IDX headers end by 1 kB (255 axes) and
    # gzip lets a small input announce much more, so 64 kB does there.
    case "$target" in idx) max_len=65536 ;; *) max_len=1048576 ;; esac
    echo "fuzz.sh: running $target for ${seconds}s"
    log="$build/$target.log"
    # The IDX target writes each input to a file: in memory (/dev/shm) when there is one, as
    # a disk would make it five times slower.
    scratch=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/isometry-fuzz.XXXXXX")
    if TMPDIR="$scratch" ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$binary" "$corpus" \
        -dict=Fuzz/"$target"/"$target".dict -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$max_len" -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1; then
        echo "fuzz.sh: $target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs, no crash"
    else
        echo "fuzz.sh: $target FAILED; the input is in $findings/, the log in $log:" >&2
        grep -m 20 -E "ERROR|Fatal|precondition|panic|SUMMARY|Test unit written|==[0-9]+==" "$log" >&2 || tail -20 "$log" >&2
        status=1
    fi
    rm -rf "$scratch"
done
echo "fuzz.sh: $(( $(stamp) - start ))s in all"
exit $status
