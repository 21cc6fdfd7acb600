#!/usr/bin/python3
"""Makes the models "brought by a user" that `make check-data` runs thinice-study on
(tests/data/study_external.sh), entirely outside thinice, in PyTorch:

1. Fashion-MNIST, safetensors of thinice's smallcnn architecture: a dense model trained here
   with a normalisation in front ((x - 0.2860) / 0.3530, recorded as "mean"/"std" metadata)
   and a copy pruned to 90% per layer by magnitude, then fine-tuned under its masks. Both are
   written as a DataParallel checkpoint converted to safetensors would be ("module." prefix),
   in float16 (half the bytes; the loader widens it), the pruned one gzipped (its zeros
   compress).
2. CIFAR-10, ONNX: a small CNN with the normalisation inside the graph (Sub/Div), and a copy
   pruned to 90% the same way.

For each pair it also writes the populations the study must find on the first test images:
per-sample predictions of both models computed here by PyTorch from the very weights written
(the float16 ones widened back), and the counts of the four populations.

    /usr/bin/python3 scripts/make_external_fixtures.py FASHION_DIR CIFAR_DIR OUT_DIR

Deterministic for a given PyTorch build (seeded; one thread). Takes a few minutes on 2 cores.
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from thinice_pt import SmallCNN, load_fmnist

FM_MEAN, FM_STD = 0.2860, 0.3530
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
N_FM, N_CIFAR = 1000, 500  # test images of the populations


class Normalized(nn.Module):
    """(x - mean) / std per channel, then the network: what thinice's "normalize" layer does."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


class CifarCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        return self.fc(torch.flatten(x, 1))


def load_cifar(directory, files, count):
    xs, ys = [], []
    for name in files:
        with gzip.open(os.path.join(directory, name)) as f:
            raw = np.frombuffer(f.read(), np.uint8).reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    x, y = np.concatenate(xs)[:count], np.concatenate(ys)[:count]
    return torch.from_numpy(x), torch.from_numpy(y)


def train(model, x, y, epochs, lr, masks=None):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            if masks:
                with torch.no_grad():
                    for p, m in masks:
                        p.mul_(m)


def magnitude_masks(net, sparsity):
    """Per layer, keep the n - floor(s n) weights of largest magnitude (thinice's rule)."""
    masks = []
    for name, p in net.named_parameters():
        if not name.endswith("weight") or p.dim() < 2:
            continue
        n = p.numel()
        keep = n - int(np.floor(sparsity * n + 1e-9))
        order = torch.argsort(p.detach().abs().flatten(), descending=True, stable=True)
        m = torch.zeros(n)
        m[order[:keep]] = 1
        m = m.view_as(p)
        with torch.no_grad():
            p.mul_(m)
        masks.append((p, m))
    return masks


def write_safetensors(path, tensors, meta, dtype):
    """Writes a safetensors file by hand (the package is not needed), gzipped for .gz."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    code = {torch.float16: "F16", torch.float32: "F32"}[dtype]
    for name, t in tensors.items():
        b = t.detach().to(dtype).contiguous().numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    data = struct.pack("<Q", len(h)) + h + b"".join(blobs)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def widened(net, dtype):
    """A copy of net whose weights went through dtype and back: what the file holds."""
    import copy
    c = copy.deepcopy(net)
    with torch.no_grad():
        for p in c.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    return c


def populations(dense, pruned, x, y, path):
    with torch.no_grad():
        pd = dense(x).argmax(1)
        pp = pruned(x).argmax(1)
    d, p = (pd == y).int(), (pp == y).int()
    counts = {k: int(((2 * d + p) == v).sum()) for k, v in (("00", 0), ("01", 1), ("10", 2), ("11", 3))}
    with open(path, "w") as f:
        f.write("# made by scripts/make_external_fixtures.py: PyTorch's predictions of the dense\n"
                "# and pruned models on the first %d test images; populations by (dense right,\n"
                "# pruned right)\n" % len(y))
        f.write("counts 00 %(00)d 01 %(01)d 10 %(10)d 11 %(11)d\n" % counts)
        for i in range(len(y)):
            f.write("%d %d %d %d\n" % (i, int(y[i]), int(pd[i]), int(pp[i])))
    return counts


def fashion(src, out):
    torch.manual_seed(0)
    x, y = load_fmnist(src, "train", 20000)
    net = SmallCNN()
    model = Normalized(net, (FM_MEAN,), (FM_STD,))
    train(model, x, y, epochs=2, lr=0.05)
    meta = {"mean": "%g" % FM_MEAN, "std": "%g" % FM_STD, "arch": "smallcnn", "input": "1x28x28",
            "classes": "10"}
    sd = {"module." + k: v for k, v in net.state_dict().items()}
    write_safetensors(os.path.join(out, "external_fmnist_dense.safetensors"), sd, meta,
                      torch.float16)
    dense = Normalized(widened(net, torch.float16), (FM_MEAN,), (FM_STD,))
    masks = magnitude_masks(net, 0.9)
    train(model, x[:10000], y[:10000], epochs=1, lr=0.01, masks=masks)
    sd = {"module." + k: v for k, v in net.state_dict().items()}
    write_safetensors(os.path.join(out, "external_fmnist_pruned90.safetensors.gz"), sd, meta,
                      torch.float16)
    pruned = Normalized(widened(net, torch.float16), (FM_MEAN,), (FM_STD,))
    xt, yt = load_fmnist(src, "t10k", N_FM)
    return populations(dense, pruned, xt, yt,
                       os.path.join(out, "external_fmnist_populations.txt"))


def cifar(src, out):
    torch.manual_seed(0)
    x, y = load_cifar(src, ["data_batch_1.bin.gz"], 10000)
    net = CifarCNN()
    model = Normalized(net, CIFAR_MEAN, CIFAR_STD).eval()
    train(model, x, y, epochs=3, lr=0.05)
    dummy = torch.zeros(1, 3, 32, 32)

    def export(name):
        torch.onnx.export(model, dummy, os.path.join(out, name), opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})

    export("external_cifar_dense.onnx")
    import copy
    dense = copy.deepcopy(model)
    masks = magnitude_masks(net, 0.9)
    train(model, x, y, epochs=1, lr=0.01, masks=masks)
    export("external_cifar_pruned90.onnx")
    xt, yt = load_cifar(src, ["test_batch.bin.gz"], N_CIFAR)
    return populations(dense, model, xt, yt, os.path.join(out, "external_cifar_populations.txt"))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    fm, cf, out = sys.argv[1:]
    print("fashion-mnist populations:", fashion(fm, out))
    print("cifar-10 populations:", cifar(cf, out))


if __name__ == "__main__":
    main()
