#!/usr/bin/python3
"""PyTorch 1.13 CPU baseline for one PGD-AT epoch of the small CNN on Fashion-MNIST, the same
settings as `thinice-train --adv pgd` (docs/PERFORMANCE.md, "Training"): batch 128, SGD lr 0.05
momentum 0.9 weight decay 5e-4 (cosine over one epoch), PGD with a uniform random start,
eps 0.1, step 0.025, 10 steps, sign-gradient ascent on the summed cross-entropy, projection on
the eps-ball and [0,1] after every step, model in eval mode while attacking (the small CNN has
no batch norm, so this only matters for the form), then one step on CE(f(x'), y).

Usage (run from the repository root; the fair baseline keeps glibc from returning memory):
  GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296 \\
      /usr/bin/python3 scripts/bench_pytorch_pgdat.py [--threads 2] [--count 60000]
Prints one JSON line: images, seconds (wall), cpu_seconds, images_per_s, and the time of a
60000-image epoch at that rate.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from thinice_pt import SmallCNN, load_fmnist


def pgd(model, x, y, eps, step, steps):
    xa = x + torch.empty_like(x).uniform_(-eps, eps)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        xa = xa.detach() + step * g.sign()
        xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0.0, 1.0)
    return xa.detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--count", type=int, default=60000)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = load_fmnist(args.data, "train", args.count)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    n = x.shape[0]
    nb = (n + args.batch - 1) // args.batch
    perm = torch.randperm(n)
    t0, c0 = time.perf_counter(), time.process_time()
    for b in range(nb):
        for group in opt.param_groups:  # cosine over the epoch, per batch as thinice does
            group["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * b / nb))
        idx = perm[b * args.batch:(b + 1) * args.batch]
        xb, yb = x[idx], y[idx]
        model.eval()
        xa = pgd(model, xb, yb, 0.1, 0.025, args.steps)
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(xa), yb)
        loss.backward()
        opt.step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"tool": "pytorch", "torch": torch.__version__, "threads": args.threads,
                      "images": n, "batch": args.batch, "pgd_steps": args.steps,
                      "seconds": wall, "cpu_seconds": cpu, "images_per_s": n / wall,
                      "epoch_60000_seconds": 60000 * wall / n, "last_loss": loss.item()}))


if __name__ == "__main__":
    main()
