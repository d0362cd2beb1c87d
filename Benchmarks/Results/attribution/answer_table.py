"""The tables of docs/interpretation.md, "The answer on Fashion-MNIST", from the folders
`interpret --evaluate` wrote (table.csv, scores.csv; a network's metrics may come from several
runs over the first n test images, as Benchmarks/Results/attribution/README.md lists them):
per metric the methods' means with their 95 % intervals (the command's, Student's t), the best
method, and whether it is separated from the runner-up — by the intervals of the two means (do
they overlap?) and by the paired 95 % interval of the per-image difference over the images both
were scored on (the same images, so the paired interval is the sharper test).

Gradient × input, the linearisation and the switched projection give the same map (W(x)_t ⊙ x,
equal to rounding) and so the same scores: they are one row, "W(x)⊙x", here.

    /root/.venv-peers/bin/python Benchmarks/Results/attribution/answer_table.py Benchmarks/Results/attribution/cnn-*
"""
import csv
import sys
from collections import defaultdict

import numpy as np
from scipy import stats

SAME_MAP = ["gradient-x-input", "linearisation", "switched-projection"]
ROW = {m: "W(x)⊙x" for m in SAME_MAP}


def main(folders):
    cells, scores, methods, metrics = {}, defaultdict(dict), [], []
    for folder in folders:
        for r in csv.DictReader(open(f"{folder}/table.csv")):
            cells[(r["method"], r["metric"])] = r
            methods.append(r["method"])
            metrics.append(r["metric"])
        for r in csv.DictReader(open(f"{folder}/scores.csv")):
            scores[(r["method"], r["metric"])][int(r["image"])] = float(r["value"])
    methods, metrics = list(dict.fromkeys(methods)), list(dict.fromkeys(metrics))
    # The three equal maps must have equal scores (to rounding) before they are one row.
    for k in metrics:
        means = [float(cells[(m, k)]["mean"]) for m in SAME_MAP if (m, k) in cells]
        assert not means or max(means) - min(means) <= 1e-5 * max(1, abs(means[0])), (k, means)
    rows = list(dict.fromkeys(ROW.get(m, m) for m in methods))
    first = {ROW.get(m, m): m for m in reversed(methods)}

    def cell(row, k):
        return cells.get((first[row], k))

    def ranked(k):
        present = [r for r in rows if cell(r, k)]
        higher = cell(present[0], k)["higher_is_better"] == "true"
        return sorted(present, key=lambda r: -float(cell(r, k)["mean"]) if higher else float(cell(r, k)["mean"])), higher

    robustness = [k for k in metrics if k == "max-sensitivity" or k.startswith("noisy-background")]
    for group in ([k for k in metrics if k not in robustness], robustness):
        print("| method | " + " | ".join(group) + " |")
        print("|---|" + "---|" * len(group))
        for r in rows:
            parts = []
            for k in group:
                c = cell(r, k)
                if c is None:
                    parts.append("—")
                    continue
                best = ranked(k)[0][0] == r
                text = f"{float(c['mean']):.3g} [{float(c['ci_lower']):.3g}, {float(c['ci_upper']):.3g}]"
                most = max(int(cell(o, k)["n"]) for o in rows if cell(o, k))
                if int(c["n"]) != most:
                    text += f" (n = {c['n']})"
                parts.append(f"**{text}**" if best else text)
            print(f"| {r} | " + " | ".join(parts) + " |")
        print("\nn per metric (the most of any method): " + ", ".join(f"{k} {max(int(cell(o, k)['n']) for o in rows if cell(o, k))}" for k in group))
    print()
    print("| metric | better | best | runner-up | intervals overlap | paired difference best − runner-up [95 %] | n |")
    print("|---|---|---|---|---|---|---|")
    for k in metrics:
        order, higher = ranked(k)
        if len(order) < 2:
            continue
        best, runner = order[0], order[1]
        b, r = cell(best, k), cell(runner, k)
        overlap = float(b["ci_lower"]) <= float(r["ci_upper"]) and float(r["ci_lower"]) <= float(b["ci_upper"])
        sb, sr = scores[(first[best], k)], scores[(first[runner], k)]
        d = np.array([sb[i] - sr[i] for i in sorted(set(sb) & set(sr))])
        d = d[~np.isnan(d)]
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        print(f"| {k} | {'higher' if higher else 'lower'} | {best} | {runner} | {'yes' if overlap else 'no'} | "
              f"{d.mean():.3g} [{d.mean() - half:.3g}, {d.mean() + half:.3g}] | {len(d)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
