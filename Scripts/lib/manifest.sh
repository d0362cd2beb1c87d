# Lists read from Package.swift (through `swift package dump-package`), so that no script keeps
# its own copy to drift from the manifest. Source this file from the repository root.

# dump-package under a scratch folder of its own: the default .build is locked by any running
# `swift build` or `swift test` (a test that sources this file would wait for itself forever).
manifest_json() {
    local scratch
    scratch=$(mktemp -d)
    swift package --scratch-path "$scratch" dump-package
    local status=$?
    rm -rf "$scratch"
    return $status
}

# The executable products (the commands), one a line.
manifest_executables() {
    manifest_json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["products"]:
    if "executable" in p["type"]: print(p["name"])'
}

# The package's Swift targets that TARGET needs, its dependencies before it and TARGET last
# (C system-library targets and other packages' products left out), one a line.
manifest_module_order() {
    manifest_json | python3 -c '
import json, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
order = []
def visit(name):
    t = targets.get(name)
    if t is None or t["type"] == "system" or name in order: return
    for d in t["dependencies"]:
        kind, value = next(iter(d.items()))
        if kind in ("byName", "target"): visit(value[0])
    order.append(name)
visit(sys.argv[1])
print("\n".join(order))' "$1"
}
