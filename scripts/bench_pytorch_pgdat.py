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
import gzip
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    """thinice's smallcnn (libtensor/arch_smallcnn.c) with the same state_dict names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def load_fmnist(directory, count):
    with gzip.open(directory + "/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(directory + "/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = torch.from_numpy(x[:count].astype(np.float32) / 255.0)
    return x, torch.from_numpy(y[:count].astype(np.int64))


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
    x, y = load_fmnist(args.data, args.count)
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
