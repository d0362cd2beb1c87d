#!/usr/bin/env bash
# Compiles every ```swift example in README.md, docs/*.md and the DocC catalogs against this
# package, and runs the quick ones, so that the documentation cannot drift from the API.
# A block whose first line is "// Package.swift" is a manifest excerpt and is skipped; a block
# containing "// example: compile only" is built but not run (it trains or reads large data).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$root" "$work" <<'PY'
import pathlib, re, sys
root, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted(root.glob("Sources/*/*.docc/*.md"))]
targets, runnable = [], []
for file in files:
    for index, block in enumerate(re.findall(r"```swift\n(.*?)```", file.read_text(), re.S)):
        if block.startswith("// Package.swift"):
            continue
        name = "Example" + re.sub(r"[^A-Za-z0-9]", "", file.stem.title()) + str(index)
        folder = work / "Sources" / name
        folder.mkdir(parents=True)
        (folder / "main.swift").write_text(f"// {file.relative_to(root)}, example {index + 1}\n" + block)
        targets.append(name)
        if "// example: compile only" not in block:
            runnable.append(name)
# Every library product of the manifest, so the list cannot drift from Package.swift.
import json, subprocess
manifest = json.loads(subprocess.check_output(["bash", "-c", ". Scripts/lib/manifest.sh; manifest_json"], cwd=root))
products = [p["name"] for p in manifest["products"] if "library" in p["type"]]
deps = ", ".join(f'.product(name: "{p}", package: "{root.name}")' for p in products)
(work / "Package.swift").write_text(
    "// swift-tools-version:6.0\nimport PackageDescription\n"
    f'let package = Package(name: "examples", dependencies: [.package(path: "{root}")], targets: [\n'
    + ",\n".join(f'  .executableTarget(name: "{t}", dependencies: [{deps}], swiftSettings: [.swiftLanguageMode(.v5)])' for t in targets)
    + "\n])\n")
(work / "runnable.txt").write_text("\n".join(runnable) + "\n")
print(f"{len(targets)} examples ({len(runnable)} to run) from {len(files)} files")
PY
if ! swift build --package-path "$work" > "$work/build.log" 2>&1; then
    grep -E "error" "$work/build.log" || tail -20 "$work/build.log"
    exit 1
fi
while read -r name; do
    [ -n "$name" ] || continue
    echo "running $name"
    # From the repository root: examples may read its fixtures by relative path (Tests/Fixtures).
    (cd "$root" && swift run --package-path "$work" --skip-build "$name" > /dev/null)
done < "$work/runnable.txt"
echo "all examples compile; the runnable ones exit 0"
