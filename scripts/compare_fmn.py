#!/usr/bin/python3
"""FMN (Pintor et al., NeurIPS 2021; L-inf, untargeted, 1000 steps) in thinice against a
PyTorch reference, side by side on the same model and images: every round runs
`thinice-attack --attack fmn` (the native build) and the reference one after the other,
their order alternating from round to round, each alone on the machine (under an exclusive
flock on the CPU lock, when one is given). Reports the wall time of each, the ratio
reference / thinice per round and its median, and compares the per-sample distances
||x_adv - x||_inf of the points both attack (the correctly classified ones): how many agree
within 1%, and the largest relative difference. Writes everything as JSON.

The reference is adv_lib's fmn (jeromerony/adversarial-library,
adv_lib/attacks/fast_minimum_norm.py, adapted from the authors' code; the authors' own
needs Foolbox, which Debian does not package). It is NOT part of this repository: fetch it
(git clone https://github.com/jeromerony/adversarial-library) and pass the checkout with
--advlib or the ADVLIB_DIR environment variable; only that one file and adv_lib.utils are
imported (the package's attacks/__init__ pulls torchvision). PyTorch runs at its best
settings (2 threads, denormals flushed, glibc keeping freed memory, parameters frozen), on
the correctly classified points in batches of 250, as thinice does.

Usage (from the repository root, after `make NATIVE=1`):
  /usr/bin/python3 scripts/compare_fmn.py --count 100 --rounds 2 --advlib /path/to/adversarial-library \\
      [--model cifar_resnet] [--steps 1000] [--lock /path/to/cpu.lock] [-o out.json]
Models as scripts/compare_autoattack.py (--model, --weights, --data).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import compare_autoattack as ca  # noqa: E402  (models, data, locking, the PyTorch settings)


def reference_child(spec):
    import importlib.util
    import torch
    torch.set_num_threads(spec["threads"])
    torch.set_flush_denormal(True)
    sys.path.insert(0, spec["advlib"])
    path = os.path.join(spec["advlib"], "adv_lib", "attacks", "fast_minimum_norm.py")
    mod_spec = importlib.util.spec_from_file_location("fmn_reference", path)
    fm = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(fm)
    model = ca.build_torch_model(spec).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = ca.load_data(spec)
    with torch.no_grad():
        clean = model(x).argmax(1)
    idx = [i for i in range(x.shape[0]) if clean[i] == y[i]]
    dist = {}
    t0 = time.perf_counter()
    for b in range(0, len(idx), 250):
        sel = torch.tensor(idx[b:b + 250])
        xb, yb = x[sel], y[sel]
        adv = fm.fmn(model, xb, yb, norm=float("inf"), steps=spec["steps"])
        with torch.no_grad():
            pred = model(adv).argmax(1)
        d = (adv - xb).flatten(1).abs().max(1)[0]
        for k, i in enumerate(sel.tolist()):
            dist[str(i)] = float(d[k]) if pred[k] != yb[k] else None
    total = time.perf_counter() - t0
    print(json.dumps({"seconds": total, "distance": dist, "torch": torch.__version__}))


def thinice_run(spec, tmp):
    csv_path, js = os.path.join(tmp, "f.csv"), os.path.join(tmp, "f.json")
    cmd = [os.path.join(ROOT, "build-native", "bin", "thinice-attack"), "--attack", "fmn",
           "--norm", "linf", "--eps", repr(spec["eps"]), "--fmn-steps", str(spec["steps"]),
           "--threads", str(spec["threads"]), "--batch-size", "250", "--offset",
           str(spec["offset"]), "--count", str(spec["count"]), "--data", spec["data_dir"],
           "--quiet", "--no-progress", "-o", csv_path, "--json", js]
    if spec.get("onnx"):
        cmd += ["--model", "onnx:" + spec["onnx"]]
    else:
        cmd += ["--model", spec["arch"], "--weights", spec["weights"]]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(js) as f:
        summary = json.load(f)
    dist = {}
    with open(csv_path) as f:
        head = f.readline().strip().split(",")
        for k, line in enumerate(f):
            r = dict(zip(head, line.strip().split(",")))
            if r["clean_pred"] != r["label"]:
                continue
            dist[str(k)] = float(r["min_norm"]) if r["min_norm"] not in ("", "inf") else None
    secs = sum(a["seconds"] for a in summary["attacks"])
    return {"seconds": secs, "distance": dist}


def reference_run(spec, tmp):
    env = dict(os.environ, GLIBC_TUNABLES=ca.TUNED, OMP_NUM_THREADS=str(spec["threads"]))
    p = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), "--child",
                        json.dumps(spec)], env=env, check=True, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def compare(t, r):
    """Per-sample agreement of the distances (None: no adversarial point found)."""
    keys = sorted(set(t["distance"]) | set(r["distance"]), key=int)
    rel, rows = [], []
    for k in keys:
        a, b = t["distance"].get(k), r["distance"].get(k)
        if a is None or b is None:
            rows.append({"index": int(k), "thinice": a, "reference": b})
            continue
        d = abs(a - b) / max(b, 1e-12)
        rel.append(d)
        if d > 0.01:
            rows.append({"index": int(k), "thinice": a, "reference": b, "relative": d})
    return {"points": len(keys), "both_found": len(rel),
            "within_1pct": sum(1 for d in rel if d <= 0.01),
            "max_relative": max(rel) if rel else None,
            "median_relative": statistics.median(rel) if rel else None, "outside": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ca.add_common_args(ap, 100)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--advlib", default=os.environ.get("ADVLIB_DIR"),
                    help="checkout of jeromerony/adversarial-library (or ADVLIB_DIR)")
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "build-native",
                                                           "compare_fmn.json"))
    args = ap.parse_args()
    if args.child:
        reference_child(json.loads(args.child))
        return
    if not args.advlib or not os.path.isfile(os.path.join(args.advlib, "adv_lib", "attacks",
                                                           "fast_minimum_norm.py")):
        ap.error("give the checkout of jeromerony/adversarial-library with --advlib or ADVLIB_DIR")
    spec = ca.model_spec(ap, args, steps=args.steps, advlib=os.path.abspath(args.advlib))
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in ca.alternate(args, spec, tmp, thinice_run, reference_run):
            row["ratio"] = row["reference"]["seconds"] / row["thinice"]["seconds"]
            row["agreement"] = compare(row["thinice"], row["reference"])
            rounds.append(row)
            a = row["agreement"]
            print("round %d (%s first): reference %.1f s, thinice %.1f s, %.2fx; %d/%d "
                  "distances within 1%% (max rel. difference %s)"
                  % (row["round"], row["first"], row["reference"]["seconds"],
                     row["thinice"]["seconds"], row["ratio"], a["within_1pct"], a["both_found"],
                     "%.2g" % a["max_relative"] if a["max_relative"] is not None else "-"),
                  flush=True)
    med = statistics.median(x["ratio"] for x in rounds)
    print("median reference / thinice: %.2fx" % med)
    out = {"model": args.model, "spec": {k: v for k, v in spec.items() if k != "advlib"},
           "rounds": rounds, "ratio_median": med}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(args.output + ".tmp", args.output)
    print("wrote " + args.output)


if __name__ == "__main__":
    main()
