#!/usr/bin/python3
"""thinice against PyTorch on the model-zoo benchmark, side by side: for every round and
every model, build-native/bin/bench_models (the native build `make bench` measures) and scripts/bench_pytorch_models.py run one after the
other (their order alternating from round to round), so that both see the same state of a
shared, noisy machine. Prints per model and workload the median images/s of each over the
rounds and the median of the per-round ratios thinice / PyTorch, and writes all rounds as
JSON.

Usage (from the repository root, after `make NATIVE=1 build-native/bin/bench_models`):
  /usr/bin/python3 scripts/compare_models.py [--rounds 3] [--models resnet18,vgg16_bn,wrn_28_4]
                                             [--reps 5] [-o build-native/compare_models.json]
PyTorch runs with glibc told to keep freed memory (its best setting,
docs/PERFORMANCE.md#the-pytorch-baseline).
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = ["forward", "train", "input_grad"]
TUNED = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296"


def run(cmd, env, out):
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def one(lib, model, reps, tmp):
    env = dict(os.environ, THINICE_BENCH_MODELS=model, THINICE_BENCH_REPS=str(reps))
    out = os.path.join(tmp, f"{lib}.json")
    if lib == "thinice":
        cmd = [os.path.join(ROOT, "build-native", "bin", "bench_models"), out]
    else:
        env["GLIBC_TUNABLES"] = TUNED
        cmd = ["/usr/bin/python3", os.path.join(HERE, "bench_pytorch_models.py"), out]
    return run(cmd, env, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="resnet18,vgg16_bn,wrn_28_4")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "build-native", "compare_models.json"))
    args = ap.parse_args()
    models = args.models.split(",")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            libs = ["thinice", "pytorch"] if r % 2 == 0 else ["pytorch", "thinice"]
            for m in models:
                res = {lib: one(lib, m, args.reps, tmp) for lib in libs}
                row = {"round": r + 1, "model": m, "first": libs[0]}
                for lib in libs:
                    row[lib] = res[lib]["models"][m]
                    row[lib + "_gemm"] = res[lib].get("sgemm_1024_gflops")
                rounds.append(row)
                print(f"round {r + 1} {m}: " + "  ".join(
                    f"{w} {row['thinice'][w]['images_per_s']:.1f}/{row['pytorch'][w]['images_per_s']:.1f}"
                    for w in WORKLOADS), flush=True)
    print("\nmedians over %d rounds, images/s (best of %d steps each): thinice / PyTorch = ratio"
          % (args.rounds, args.reps))
    summary = {}
    for m in models:
        rows = [x for x in rounds if x["model"] == m]
        cells = []
        summary[m] = {}
        for w in WORKLOADS:
            ti = [x["thinice"][w]["images_per_s"] for x in rows]
            pt = [x["pytorch"][w]["images_per_s"] for x in rows]
            ratio = statistics.median(a / b for a, b in zip(ti, pt))
            summary[m][w] = {"thinice": statistics.median(ti), "pytorch": statistics.median(pt),
                             "ratio_median": ratio, "ratio_min": min(a / b for a, b in zip(ti, pt)),
                             "ratio_max": max(a / b for a, b in zip(ti, pt))}
            cells.append(f"{w} {statistics.median(ti):.1f} / {statistics.median(pt):.1f} = {ratio:.2f}x")
        print(f"{m:10s} " + " | ".join(cells))
    with open(args.output, "w") as f:
        json.dump({"rounds": rounds, "summary": summary}, f, indent=1)
    print("wrote " + args.output)


if __name__ == "__main__":
    main()
