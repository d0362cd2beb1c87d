# Lists read from Package.swift (through `swift package dump-package`), so that no script keeps
# its own copy to drift from the manifest. Source this file from the repository root.

# Reading the manifest needs no build, so it gets a scratch folder of its own: SwiftPM locks
# .build while a build or `swift test` runs, and a script (or a test) may run during one.
manifest_json() { swift package --scratch-path "${TMPDIR:-/tmp}/isometry-manifest" dump-package; }

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
