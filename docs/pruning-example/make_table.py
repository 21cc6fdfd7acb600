#!/usr/bin/python3
"""Prints the markdown table of docs/pruning-example/README.md from the JSON reports of
thinice-prune in this directory (run from the repository root:
/usr/bin/python3 docs/pruning-example/make_table.py)."""
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def pct(x):
    return "%.2f" % (100 * x)


def spct(x):
    return "%.4f" % (100 * x)


rows = []
for path in sorted(glob.glob(os.path.join(HERE, "*.json"))):
    r = json.load(open(path))
    if r.get("tool") != "thinice-prune":
        continue
    c = r["config"]
    phases = " / ".join("%s %d ep %.0f s" % (p["name"], p["epochs"], p["seconds"])
                        for p in r["phases"])
    per_epoch = [p["seconds_per_epoch"] for p in r["phases"] if p["seconds_per_epoch"]]
    rows.append("| %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %.0f s/epoch | `%s` |" % (
        c["model"], c["data"], r["method"], spct(r["sparsity_target"]), spct(r["sparsity"]),
        pct(r["start"]["clean_accuracy"]), pct(r["start"]["pgd_accuracy"]),
        pct(r["clean_accuracy"]), pct(r["pgd_accuracy"]), phases,
        max(per_epoch) if per_epoch else 0, os.path.basename(path)))
print("| model | data | method | target % | sparsity % | dense clean / PGD % | "
      "pruned clean / PGD % | phases | slowest epoch | report |")
print("|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
