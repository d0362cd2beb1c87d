#!/usr/bin/env python3
"""Markdown tables from `bench-attribution --log FILE` (one JSON line per contender and round):
the total (wall clock, and CPU time where logged) and each method's attributions and each metric
(summed over the methods; wall clock) per round,
medians over the rounds both contenders completed, and the ratio peer / Isometry. Reads only
the log, so a run stopped part-way is summarised over the rounds it finished.

Run: python3 Benchmarks/Peers/attribution_log_table.py Benchmarks/Results/attribution/mlp-default-100-t1.jsonl
"""
import json, statistics, sys

for path in sys.argv[1:]:
    rounds = {"isometry": {}, "peer": {}}
    for line in open(path):
        record = json.loads(line)
        rounds[record["contender"]][record["round"]] = record
    done = sorted(set(rounds["isometry"]) & set(rounds["peer"]))
    if not done:
        print(f"{path}: no round with both contenders"); continue
    first = rounds["isometry"][done[0]]["parts"]
    methods = [k for k in first if "/" not in k]
    metrics = list(dict.fromkeys(k.split("/")[1] for k in first if "/" in k))

    def value(contender, r, keys):
        parts = rounds[contender][r]["parts"]
        return sum(parts.get(k, 0.0) for k in keys)

    rows = [("**total, wall clock**", None)]
    if all("cpu_seconds" in rounds[c][r] for c in rounds for r in done):
        rows.append(("**total, CPU time**", "cpu"))
    rows += [(f"attributions: {m}", [m]) for m in methods] + \
            [(f"{metric} (all methods)", [f"{m}/{metric}" for m in methods]) for metric in metrics]
    print(f"{path}: rounds {', '.join(map(str, done))}")
    print("| part | Isometry (rounds) | Isometry median | peer (rounds) | peer median | peer / Isometry |")
    print("|---|---|---:|---|---:|---:|")
    for label, keys in rows:
        def times(contender):
            if keys is None: return [rounds[contender][r]["seconds"] for r in done]
            if keys == "cpu": return [rounds[contender][r]["cpu_seconds"] for r in done]
            return [value(contender, r, keys) for r in done]
        ours, theirs = times("isometry"), times("peer")
        ratio = statistics.median([t / max(o, 1e-9) for o, t in zip(ours, theirs)])
        fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
        print(f"| {label} | {fmt(ours)} | {statistics.median(ours):.2f} s | {fmt(theirs)} | {statistics.median(theirs):.2f} s | {ratio:.1f}× |")
    print("(ratio: the median of the rounds' ratios)")
