#!/usr/bin/python3
"""Makes tests/fixtures/onnx_fmnist.onnx, the ONNX model tests/data/onnx.sh attacks with
thinice-attack (no Python runs in the tests; this script only made the committed file).

Run from the repository root with Debian's PyTorch 1.13 and onnx 1.12:
    /usr/bin/python3 scripts/make_onnx_fmnist.py [DATA_DIR]
(DATA_DIR defaults to /usr/share/datasets/fashion-mnist, IDX files, plain or gzip).

The model: a small CNN for 1x28x28 Fashion-MNIST images, 10 classes, with a normalisation
prefix (x - 0.2860) / 0.3530 (Sub and Div nodes), two 3x3 convolutions without bias, each
followed by batch norm (kept as BatchNormalization nodes: exported from eval mode with
TrainingMode.PRESERVE, so they are not folded into the convolutions), ReLU and 2x2 max
pooling, then Flatten and one Linear layer (Gemm). Weights are seeded (torch.manual_seed(0))
and trained for one epoch of SGD on the 60,000 training images, so that the attacks have a
model with a real decision boundary to work on. Opset 13, dynamic batch axis. About 40 KB.
"""
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = "tests/fixtures/onnx_fmnist.onnx"


def read_idx(path):
    """An IDX file (plain or .gz) as a numpy array."""
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with (gzip.open(p) if p.endswith(".gz") else open(p, "rb")) as f:
                data = f.read()
            break
    else:
        raise FileNotFoundError(path)
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class FmnistCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.2860]).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor([0.3530]).view(1, 1, 1, 1))
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # 28 -> 14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)   # 14 -> 7
        return self.fc(torch.flatten(x, 1))


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    torch.manual_seed(0)
    torch.set_num_threads(2)
    xtr = torch.from_numpy(read_idx(os.path.join(data, "train-images-idx3-ubyte")).copy())
    ytr = torch.from_numpy(read_idx(os.path.join(data, "train-labels-idx1-ubyte")).astype(np.int64))
    xte = torch.from_numpy(read_idx(os.path.join(data, "t10k-images-idx3-ubyte")).copy())
    yte = torch.from_numpy(read_idx(os.path.join(data, "t10k-labels-idx1-ubyte")).astype(np.int64))
    xtr = xtr.float().div(255).unsqueeze(1)
    xte = xte.float().div(255).unsqueeze(1)

    model = FmnistCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), 128):                   # one epoch
        idx = perm[i:i + 128]
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
        first20 = (model(xte[:20]).argmax(1) == yte[:20]).float().mean().item()
    torch.onnx.export(model, xte[:2], OUT, opset_version=13, input_names=["input"],
                      output_names=["logits"], training=torch.onnx.TrainingMode.PRESERVE,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print("%s: %d bytes, test accuracy %.4f (first 20: %.2f)"
          % (OUT, os.path.getsize(OUT), acc, first20))


if __name__ == "__main__":
    main()
