#!/usr/bin/python3
"""Makes tests/fixtures/onnx_cifar_resnet.onnx: a small robust CIFAR-10 ResNet of the kind the
VNN-COMP verification benchmarks use (the "resnet_4b" shape of their cifar10_resnet models),
the model scripts/compare_autoattack.py and scripts/compare_fmn.py attack with thinice and
with the reference PyTorch implementations.

Run from the repository root with Debian's PyTorch 1.13 and onnx 1.12:
    /usr/bin/python3 scripts/make_cifar_resnet.py [CIFAR_DIR] [--epochs N]
(CIFAR_DIR holds the binary CIFAR-10 batches, plain or .gz; default ../shared/data/cifar10
relative to the repository, as the data checks use).

The model (thinice_pt.CifarResNet): a 3x3 stride-2 stem 3->16 + ReLU (16x16), two stages of
two residual blocks without batch norm, each block ReLU(conv3x3(ReLU(conv3x3(x))) + s(x))
with s a 1x1 stride-2 convolution where the block halves the map (16->32 channels at 8x8,
then 32->32 at 4x4), flatten (512), Linear 512->100 + ReLU, Linear 100->10. 2.9 M
multiply-adds per image, 124 k parameters (500 KB).

Training: "fast" adversarial training (Wong, Rice & Kolter, ICLR 2020: FGSM from a uniform
random start, step 1.25 eps) at L-inf eps 2/255, the radius of those benchmarks, on the first
20,000 training images for 4 epochs (a few minutes on 2 cores; the point is a model with a
real share of robust points, not a state-of-the-art one), Adam (lr 1e-3, cosine to 0,
batch 128; SGD at lr 0.1 killed every ReLU of this network without batch norm in the first
epoch), random crop (pad 4) and flip, seeded (torch.manual_seed(0)), 2 threads. Exported in evaluation mode, opset 13, dynamic batch axis; the initializer names
are the module's state_dict names, so thinice_pt.load_onnx_weights rebuilds the same module.
"""
import argparse
import math
import os
import time

import torch
import torch.nn.functional as F

import thinice_pt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "fixtures", "onnx_cifar_resnet.onnx")


def pgd(model, x, y, eps, step, steps):
    """Uniform start in the ball, then steps of signed-gradient ascent on CE (one step of
    1.25 eps: the training adversary; more: the test of the epoch's robustness)."""
    d = (torch.rand_like(x) * 2 - 1) * eps
    xa = (x + d).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        g, = torch.autograd.grad(loss, xa)
        xa = torch.min(torch.max(xa.detach() + step * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def augment(x):
    """Random crop of a zero-padded (4) image and a random horizontal flip, per image."""
    n = x.shape[0]
    xp = F.pad(x, (4, 4, 4, 4))
    out = torch.empty_like(x)
    ox = torch.randint(0, 9, (n,))
    oy = torch.randint(0, 9, (n,))
    flip = torch.rand(n) < 0.5
    for i in range(n):
        im = xp[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32]
        out[i] = im.flip(2) if flip[i] else im
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=os.path.join(ROOT, "..", "..", "shared", "data",
                                                            "cifar10"))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train-count", type=int, default=20000)
    ap.add_argument("-o", "--output", default=OUT)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    xtr, ytr = thinice_pt.load_cifar10(a.data, "train", a.train_count)
    xte, yte = thinice_pt.load_cifar10(a.data, "test", 1000)
    model = thinice_pt.CifarResNet()
    eps, bs = 2 / 255, 128
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    nb = (xtr.shape[0] + bs - 1) // bs
    total = a.epochs * nb
    for ep in range(a.epochs):
        t0 = time.time()
        perm = torch.randperm(xtr.shape[0])
        run_loss = 0.0
        for b in range(nb):
            lr = 0.5e-3 * (1 + math.cos(math.pi * (ep * nb + b) / total))
            for grp in opt.param_groups:
                grp["lr"] = lr
            idx = perm[b * bs:(b + 1) * bs]
            x, y = augment(xtr[idx]), ytr[idx]
            model.eval()
            xa = pgd(model, x, y, eps, 1.25 * eps, 1)
            model.train()
            loss = F.cross_entropy(model(xa), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run_loss += loss.item()
            if b % 40 == 39:
                print("  batch %d: loss %.3f" % (b + 1, run_loss / (b + 1)), flush=True)
        model.eval()
        with torch.no_grad():
            clean = (model(xte).argmax(1) == yte).float().mean().item()
        rob = (model(pgd(model, xte, yte, eps, eps / 4, 10)).argmax(1) == yte).float().mean().item()
        print("epoch %d: loss %.3f, test clean %.3f, PGD-10 %.3f (%.0f s)"
              % (ep + 1, run_loss / nb, clean, rob, time.time() - t0), flush=True)
    model.eval()
    tmp = a.output + ".tmp"
    torch.onnx.export(model, torch.rand(1, 3, 32, 32), tmp, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=False)
    os.replace(tmp, a.output)
    print("wrote", a.output)


if __name__ == "__main__":
    main()
