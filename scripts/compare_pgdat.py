#!/usr/bin/python3
"""One PGD-AT epoch of the small CNN on Fashion-MNIST, thinice against PyTorch, side by side:
every round runs `thinice-train --adv pgd` and scripts/bench_pytorch_pgdat.py with the same
settings (docs/PERFORMANCE.md, "Training") one after the other, their order alternating
from round to round, so that both see the same state of a shared machine. Prints each run's
training-loop seconds and the median over the rounds of PyTorch's time over thinice's, and
writes the rounds as JSON.

Usage (from the repository root, after `make NATIVE=1`, the build benchmarks measure):
  /usr/bin/python3 scripts/compare_pgdat.py [--rounds 2] [--count 60000] [--threads 2]
                                            [-o build-native/compare_pgdat.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TUNED = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296"


def thinice(args, tmp):
    out = os.path.join(tmp, "train.json")
    subprocess.run([os.path.join(ROOT, "build-native", "bin", "thinice-train"), "--adv", "pgd",
                    "--eps", "0.1", "--step", "0.025", "--steps", "10", "--lr", "0.05",
                    "--train-count", str(args.count), "--test-count", "1000", "--epochs", "1",
                    "--threads", str(args.threads), "--quiet", "--no-progress", "--json", out],
                   check=True)
    with open(out) as f:
        return json.load(f)["train_seconds"]


def pytorch(args):
    env = dict(os.environ, GLIBC_TUNABLES=TUNED)
    p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "bench_pytorch_pgdat.py"),
                        "--threads", str(args.threads), "--count", str(args.count)],
                       env=env, check=True, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])["seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--count", type=int, default=60000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "build-native", "compare_pgdat.json"))
    args = ap.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ["thinice", "pytorch"] if r % 2 == 0 else ["pytorch", "thinice"]
            row = {"round": r + 1, "first": order[0]}
            for lib in order:
                row[lib] = thinice(args, tmp) if lib == "thinice" else pytorch(args)
            rounds.append(row)
            print(f"round {r + 1}: thinice {row['thinice']:.1f} s, PyTorch {row['pytorch']:.1f} s, "
                  f"PyTorch / thinice = {row['pytorch'] / row['thinice']:.2f}", flush=True)
    ratio = statistics.median(x["pytorch"] / x["thinice"] for x in rounds)
    print(f"{args.count} images, {args.threads} threads: median PyTorch / thinice = {ratio:.2f}")
    with open(args.output, "w") as f:
        json.dump({"count": args.count, "threads": args.threads, "rounds": rounds,
                   "ratio_median": ratio}, f, indent=1)
    print("wrote " + args.output)


if __name__ == "__main__":
    main()
