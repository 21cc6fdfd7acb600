#!/usr/bin/python3
"""PyTorch 1.13 CPU baseline for tests/bench/bench_train.c: the same small CNN (conv1 3x3
1->32 pad 1 + ReLU + maxpool 2, conv2 3x3 32->64 pad 1 + ReLU + maxpool 2, fc1 3136->128 + ReLU,
fc2 128->10) trained on random 1x28x28 images at batch 128 with SGD (lr 0.01, momentum 0.9,
weight decay 5e-4) and cross-entropy, 2 threads; prints the best images/s of 3 timed epochs of
40 batches after one warm-up epoch, and the torch.mm 1024^3 GFLOP/s of the same run.

The fair baseline runs with glibc told to keep freed memory (docs/PERFORMANCE.md#the-pytorch-baseline):
  GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296 \\
      /usr/bin/python3 scripts/bench_pytorch_smallcnn.py
"""
import sys
import time

import torch
import torch.nn.functional as F

from thinice_pt import SmallCNN

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
BATCH, NBATCH, REPS = 128, 40, 3


def sgemm_gflops(n=1024):
    a, b = torch.rand(n, n), torch.rand(n, n)
    best = 1e30
    for rep in range(6):
        t0 = time.perf_counter()
        torch.mm(a, b)
        t = time.perf_counter() - t0
        if rep > 0:
            best = min(best, t)
    return 2.0 * n ** 3 / best * 1e-9


def main():
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    gemm = sgemm_gflops()
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(NBATCH * BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (NBATCH * BATCH,))
    best = 0.0
    for rep in range(REPS + 1):
        perm = torch.randperm(NBATCH * BATCH)
        t0 = time.perf_counter()
        for b in range(NBATCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            xb, yb = x[idx], y[idx]
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        rate = NBATCH * BATCH / (time.perf_counter() - t0)
        if rep > 0:
            best = max(best, rate)
    print("torch %s, %d threads: torch.mm 1024^3 %.1f GFLOP/s" % (torch.__version__, THREADS, gemm))
    print("smallcnn 1x28x28 train step, batch %d: %.0f images/s" % (BATCH, best))


if __name__ == "__main__":
    main()
