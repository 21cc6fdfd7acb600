#!/usr/bin/python3
"""PyTorch 1.13 CPU baseline for tests/bench/bench_models.c: ResNet-18, VGG-16-BN and
WRN-28-4 (the same modules as scripts/make_model_fixtures.py) at batch 128 on random 3x32x32
images, three workloads each, best and median of REPS timed steps after one warm-up step:

  forward     model.eval(), under torch.no_grad()
  train       model.train(), zero_grad, forward, mean cross-entropy, backward (no optimizer)
  input_grad  model.eval(), parameters frozen, summed cross-entropy, torch.autograd.grad to x

Each workload runs in its own process (this script re-runs itself), so its peak memory (max
RSS minus the RSS before the model was made) is its own. Besides wall-clock images/s, the least CPU time
(user + system, all threads) of a timed step per image: on a loaded machine the scheduler
decides wall time, while CPU time is the work done (spinning OpenMP threads count). Prints the torch.mm 1024^3 GFLOP/s
of the same run, a table, and JSON (to the path given as the first argument, if any).

Run with glibc told to keep freed memory, PyTorch's best setting
(docs/PERFORMANCE.md#the-pytorch-baseline):
  GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296 \\
      /usr/bin/python3 scripts/bench_pytorch_models.py [out.json]
Environment: THINICE_THREADS (2), THINICE_BENCH_REPS (3), THINICE_BENCH_MODELS, THINICE_BENCH_BATCH.
"""
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
THREADS = int(os.environ.get("THINICE_THREADS", "2"))
REPS = int(os.environ.get("THINICE_BENCH_REPS", "3"))
BATCH = int(os.environ.get("THINICE_BENCH_BATCH", "128"))
MODELS = os.environ.get("THINICE_BENCH_MODELS", "resnet18,vgg16_bn,wrn_28_4").split(",")
WORKLOADS = ["forward", "train", "input_grad"]


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sgemm_gflops(torch, n=1024):
    a, b = torch.rand(n, n), torch.rand(n, n)
    best = 1e30
    for rep in range(6):
        t0 = time.perf_counter()
        torch.mm(a, b)
        t = time.perf_counter() - t0
        if rep > 0:
            best = min(best, t)
    return 2.0 * n ** 3 / best * 1e-9


def child(arch, workload):
    """One workload in this process; prints one JSON line."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(THREADS)
    if arch == "sgemm":
        print(json.dumps({"gflops": sgemm_gflops(torch)}))
        return
    sys.path.insert(0, HERE)
    import make_model_fixtures as fx  # the architectures with the reference module names
    torch.manual_seed(0)
    rss0 = rss_bytes()
    # wrn_28_4 without HYDRA's unused sub_block1 (thinice does not build it either)
    model = fx.WRN(3, 10, 4) if arch == "wrn_28_4" else fx.make(arch, 3, 32, 32, 10)
    x = torch.rand(BATCH, 3, 32, 32)
    y = torch.randint(0, 10, (BATCH,))
    if workload == "train":
        model.train()
    else:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)

    def step():
        if workload == "forward":
            with torch.no_grad():
                model(x)
        elif workload == "train":
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
        else:
            xi = x.clone().requires_grad_(True)
            loss = F.cross_entropy(model(xi), y, reduction="sum")
            torch.autograd.grad(loss, xi)

    step()  # warm-up
    times, cpu = [], 1e30
    for _ in range(REPS):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    print(json.dumps({"images_per_s": BATCH / times[0], "median_images_per_s":
                      BATCH / times[len(times) // 2], "peak_mib": peak / 2 ** 20,
                      "cpu_ms_per_image": 1e3 * cpu / BATCH,
                      "torch": torch.__version__}))


def run(arch, workload):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", arch, workload],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    gemm = run("sgemm", "")["gflops"]
    res = {}
    for arch in MODELS:
        res[arch] = {}
        for w in WORKLOADS:
            res[arch][w] = run(arch, w)
            print("  %s %s: %.1f images/s" % (arch, w, res[arch][w]["images_per_s"]),
                  file=sys.stderr)
    gemm = max(gemm, run("sgemm", "")["gflops"])
    version = res[MODELS[0]][WORKLOADS[0]]["torch"]
    print("torch %s, batch %d, 3x32x32, %d threads; torch.mm 1024^3 %.1f GFLOP/s (best of "
          "before and after); GLIBC_TUNABLES=%s" % (version, BATCH, THREADS, gemm,
                                                    os.environ.get("GLIBC_TUNABLES", "")))
    print("best (median) images/s of %d steps; peak = max RSS - RSS before the model, MiB" % REPS)
    print("%-10s | %-15s | %-15s | %-15s | %-17s | %-20s" % (
        "model", "forward", "fwd+bwd (train)", "input grad", "CPU ms/img f/t/g", "peak MiB f/t/g"))
    for arch in MODELS:
        r = res[arch]
        cells = ["%6.1f (%6.1f)" % (r[w]["images_per_s"], r[w]["median_images_per_s"])
                 for w in WORKLOADS]
        cpu = "/".join("%5.1f" % r[w]["cpu_ms_per_image"] for w in WORKLOADS)
        print("%-10s | %s | %s | %5.0f/%5.0f/%5.0f" % (
            arch, " | ".join(cells), cpu, r["forward"]["peak_mib"], r["train"]["peak_mib"],
            r["input_grad"]["peak_mib"]))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump({"library": "pytorch", "torch": version, "threads": THREADS,
                       "batch": BATCH, "reps": REPS, "sgemm_1024_gflops": gemm,
                       "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                       "models": res}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
