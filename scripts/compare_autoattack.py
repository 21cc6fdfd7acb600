#!/usr/bin/python3
"""AutoAttack standard (L-inf) in thinice against the reference implementation
(fra31/auto-attack on PyTorch), side by side on the same model, images and radius: every
round runs `thinice-attack` (the native build) and the reference one after the other, their
order alternating from round to round, each run alone on the machine (under an exclusive
flock on the CPU lock, when one is given). Reports, per attack and in total, the wall time of
each and the ratio reference / thinice per round and as the median over the rounds, and
compares the per-sample results: clean prediction, robust or not after each attack, and
which attack broke each point. Writes everything as JSON.

The reference is NOT part of this repository: fetch it yourself (git clone
https://github.com/fra31/auto-attack) and pass the checkout (the directory that holds the
`autoattack` package) with --autoattack or the AUTOATTACK_DIR environment variable. It runs
with Debian's PyTorch (/usr/bin/python3, torch 1.13) at its best settings: 2 threads,
denormals flushed, glibc told to keep freed memory (docs/PERFORMANCE.md#the-pytorch-baseline),
the model's parameters frozen (requires_grad False: FAB then computes no weight gradients),
the same batch size (250) and seed (0).

Models (--model):
  cifar_resnet  tests/fixtures/onnx_cifar_resnet.onnx (scripts/make_cifar_resnet.py), CIFAR-10,
                eps 2/255; thinice loads the ONNX file, the reference rebuilds the PyTorch
                module from its initializers
  smallcnn      thinice's small CNN on Fashion-MNIST (a safetensors checkpoint, --weights),
                eps 0.1
  resnet18      thinice's CIFAR ResNet-18 (a safetensors checkpoint, --weights), eps 2/255
  (--onnx FILE with --data-kind cifar10 also takes any CIFAR-10 ONNX model exported from a
  module the reference side can rebuild: thinice_pt.CifarResNet only)

Usage (from the repository root, after `make NATIVE=1`):
  /usr/bin/python3 scripts/compare_autoattack.py --model cifar_resnet --count 200 --rounds 2 \\
      --autoattack /path/to/auto-attack [--lock /path/to/cpu.lock] [-o out.json]
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
TUNED = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296"
ATTACKS = ["apgd-ce", "apgd-t", "fab-t", "square"]
FMNIST = "/usr/share/datasets/fashion-mnist"
CIFAR = os.path.join(ROOT, "..", "shared", "data", "cifar10")

MODELS = {
    "cifar_resnet": {"data": "cifar10", "eps": 2 / 255,
                     "onnx": os.path.join(ROOT, "tests", "fixtures", "onnx_cifar_resnet.onnx")},
    "smallcnn": {"data": "fmnist", "eps": 0.1, "arch": "smallcnn"},
    "resnet18": {"data": "cifar10", "eps": 2 / 255, "arch": "resnet18"},
}


# ---- the reference side (runs in its own process: --child) ---------------------------------

def build_torch_model(spec):
    sys.path.insert(0, HERE)
    import thinice_pt
    if spec.get("onnx"):
        return thinice_pt.load_onnx_weights(thinice_pt.CifarResNet(), spec["onnx"])
    import make_model_fixtures as fx
    sd, meta = thinice_pt.read_safetensors(spec["weights"])
    C, H, W = (1, 28, 28) if spec["data"] == "fmnist" else (3, 32, 32)
    if spec["arch"] == "smallcnn":
        model = thinice_pt.SmallCNN()
    else:
        model = fx.make(spec["arch"], C, H, W, 10)
    norm = meta.get("normalize", "")
    model.load_state_dict({k: v for k, v in sd.items() if k in model.state_dict()}, strict=True)
    if norm:
        raise SystemExit("compare_autoattack: checkpoints with a normalisation prefix are not "
                         "supported (%s)" % norm)
    return model


def load_data(spec):
    sys.path.insert(0, HERE)
    import thinice_pt
    if spec["data"] == "fmnist":
        x, y = thinice_pt.load_fmnist(spec["data_dir"], "t10k", spec["offset"] + spec["count"])
        return x[spec["offset"]:], y[spec["offset"]:]
    return thinice_pt.load_cifar10(spec["data_dir"], "test", spec["count"], spec["offset"])


def reference_child(spec):
    import torch
    torch.set_num_threads(spec["threads"])
    torch.set_flush_denormal(True)
    sys.path.insert(0, spec["autoattack"])
    from autoattack import AutoAttack
    model = build_torch_model(spec).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = load_data(spec)
    keys = {x[i].numpy().tobytes(): i for i in range(x.shape[0])}
    aa = AutoAttack(model, norm="Linf", eps=spec["eps"], version="standard", seed=0,
                    device="cpu", verbose=False)
    secs = {a: 0.0 for a in ATTACKS}
    broken_by = {}

    def wrap(obj, name_of):
        inner = obj.perturb

        def perturb(xb, yb, *a, **k):
            t0 = time.perf_counter()
            adv = inner(xb, yb, *a, **k)
            name = name_of()
            secs[name] += time.perf_counter() - t0
            with torch.no_grad():
                pred = model(adv).argmax(1)
            for r in range(xb.shape[0]):
                if pred[r] != yb[r]:
                    broken_by.setdefault(keys[xb[r].numpy().tobytes()], name)
            return adv
        obj.perturb = perturb

    wrap(aa.apgd, lambda: "apgd-ce")
    wrap(aa.apgd_targeted, lambda: "apgd-t")
    wrap(aa.fab, lambda: "fab-t")
    wrap(aa.square, lambda: "square")
    with torch.no_grad():
        clean = model(x).argmax(1)
    t0 = time.perf_counter()
    x_adv, y_adv = aa.run_standard_evaluation(x, y, bs=250, return_labels=True)
    total = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "total_seconds": total, "torch": torch.__version__,
                      "clean_pred": clean.tolist(), "adv_pred": y_adv.tolist(),
                      "label": y.tolist(),
                      "broken_by": {str(k): v for k, v in broken_by.items()}}))


# ---- the thinice side ----------------------------------------------------------------------

def thinice_run(spec, tmp):
    csv_path, js = os.path.join(tmp, "t.csv"), os.path.join(tmp, "t.json")
    cmd = [os.path.join(ROOT, "build-native", "bin", "thinice-attack"), "--attack", "standard",
           "--norm", "linf", "--eps", repr(spec["eps"]), "--seed", "0", "--threads",
           str(spec["threads"]), "--batch-size", "250", "--offset", str(spec["offset"]),
           "--count", str(spec["count"]), "--data", spec["data_dir"], "--quiet",
           "--no-progress", "-o", csv_path, "--json", js]
    if spec.get("onnx"):
        cmd += ["--model", "onnx:" + spec["onnx"]]
    else:
        cmd += ["--model", spec["arch"], "--weights", spec["weights"]]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    with open(js) as f:
        summary = json.load(f)
    rows = []
    with open(csv_path) as f:
        head = f.readline().strip().split(",")
        for line in f:
            rows.append(dict(zip(head, line.strip().split(","))))
    secs = {a["name"]: a["seconds"] for a in summary["attacks"]}
    return {"seconds": secs, "total_seconds": summary["wall_seconds"], "process_seconds": wall,
            "clean_pred": [int(r["clean_pred"]) for r in rows],
            "adv_pred": [int(r["adv_pred"]) for r in rows],
            "label": [int(r["label"]) for r in rows],
            "broken_by": {str(i): r["attack"] for i, r in enumerate(rows)
                          if r["success"] == "1"}}


def reference_run(spec, tmp):
    env = dict(os.environ, GLIBC_TUNABLES=TUNED, OMP_NUM_THREADS=str(spec["threads"]))
    p = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), "--child",
                        json.dumps(spec)], env=env, check=True, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def locked(lock, fn, *a):
    """fn(*a) while holding the CPU lock exclusively (no lock: just fn)."""
    if not lock:
        return fn(*a)
    import fcntl
    with open(lock) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            return fn(*a)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def add_common_args(ap, count):
    """The options both comparison scripts take: model, data, images, rounds, threads, lock."""
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--model", choices=sorted(MODELS), default="cifar_resnet")
    ap.add_argument("--weights", help="safetensors checkpoint (smallcnn, resnet18)")
    ap.add_argument("--data", help="data directory (default: Fashion-MNIST from Debian, "
                    "CIFAR-10 from ../shared/data/cifar10)")
    ap.add_argument("--count", type=int, default=count)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lock", help="run each side under an exclusive flock on this file")


def model_spec(ap, args, **extra):
    """The run's description from those options (and extra keys): the model's entry, the data
    directory, the checkpoint of a zoo model (an error without one)."""
    spec = dict(MODELS[args.model], model=args.model, count=args.count, offset=args.offset,
                threads=args.threads, **extra)
    spec["data_dir"] = os.path.abspath(args.data or (FMNIST if spec["data"] == "fmnist" else CIFAR))
    if "arch" in spec:
        if not args.weights:
            ap.error("--model %s needs --weights" % args.model)
        spec["weights"] = os.path.abspath(args.weights)
    return spec


def alternate(args, spec, tmp, thinice_side, reference_side):
    """The rounds: both sides each round, one after the other under the lock, thinice first
    in odd rounds; yields each round's row (round, first, thinice, reference)."""
    for r in range(args.rounds):
        order = ["thinice", "reference"] if r % 2 == 0 else ["reference", "thinice"]
        row = {"round": r + 1, "first": order[0]}
        for side in order:
            fn = thinice_side if side == "thinice" else reference_side
            row[side] = locked(args.lock, fn, spec, tmp)
        yield row


# ---- comparison ----------------------------------------------------------------------------

def robust_after(run, n):
    """Robust points after each attack (a point broken by attack a is not robust after a)."""
    order = {a: i for i, a in enumerate(ATTACKS)}
    correct = [run["clean_pred"][i] == run["label"][i] for i in range(n)]
    out = {}
    for k, a in enumerate(ATTACKS):
        out[a] = sum(1 for i in range(n) if correct[i] and not (
            str(i) in run["broken_by"] and order[run["broken_by"][str(i)]] <= k))
    return out


def disagreements(t, r, n):
    rows = []
    for i in range(n):
        bt, br = t["broken_by"].get(str(i)), r["broken_by"].get(str(i))
        if t["clean_pred"][i] != r["clean_pred"][i] or bt != br:
            rows.append({"index": i, "label": t["label"][i],
                         "clean_pred": [t["clean_pred"][i], r["clean_pred"][i]],
                         "broken_by": [bt, br], "adv_pred": [t["adv_pred"][i], r["adv_pred"][i]]})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap, 200)
    ap.add_argument("--eps", type=float, help="L-inf radius (default per model)")
    ap.add_argument("--autoattack", default=os.environ.get("AUTOATTACK_DIR"),
                    help="checkout of fra31/auto-attack (or AUTOATTACK_DIR)")
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "build-native",
                                                           "compare_autoattack.json"))
    args = ap.parse_args()
    if args.child:
        reference_child(json.loads(args.child))
        return
    if not args.autoattack or not os.path.isdir(os.path.join(args.autoattack, "autoattack")):
        ap.error("give the checkout of fra31/auto-attack with --autoattack or AUTOATTACK_DIR")
    spec = model_spec(ap, args, autoattack=os.path.abspath(args.autoattack))
    if args.eps is not None:
        spec["eps"] = args.eps
    n = args.count
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in alternate(args, spec, tmp, thinice_run, reference_run):
            t, ref = row["thinice"], row["reference"]
            row["ratio"] = {a: ref["seconds"][a] / t["seconds"][a] if t["seconds"].get(a) else None
                            for a in ATTACKS}
            row["ratio"]["total"] = ref["total_seconds"] / t["total_seconds"]
            row["robust"] = {"thinice": robust_after(t, n), "reference": robust_after(ref, n)}
            row["disagreements"] = disagreements(t, ref, n)
            rounds.append(row)
            print("round %d (%s first): " % (row["round"], row["first"]) + ", ".join(
                "%s %.1f/%.1f s (%.2fx)" % (a, ref["seconds"][a], t["seconds"].get(a, 0),
                                            row["ratio"][a] or 0) for a in ATTACKS) +
                  "; total %.1f/%.1f s (%.2fx); %d samples disagree"
                  % (ref["total_seconds"], t["total_seconds"], row["ratio"]["total"],
                     len(row["disagreements"])), flush=True)
    med = {k: statistics.median(x["ratio"][k] for x in rounds if x["ratio"][k])
           for k in ATTACKS + ["total"]}
    print("median reference / thinice: " + ", ".join("%s %.2fx" % (k, v) for k, v in med.items()))
    print("robust points after each attack (thinice / reference, round 1): " + ", ".join(
        "%s %d/%d" % (a, rounds[0]["robust"]["thinice"][a], rounds[0]["robust"]["reference"][a])
        for a in ATTACKS))
    out = {"model": args.model, "spec": {k: v for k, v in spec.items() if k != "autoattack"},
           "rounds": rounds, "ratio_median": med}
    tmp_out = args.output + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(tmp_out, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp_out, args.output)
    print("wrote " + args.output)


if __name__ == "__main__":
    main()
