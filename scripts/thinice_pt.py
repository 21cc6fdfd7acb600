"""What the PyTorch-side scripts share (bench_pytorch_pgdat.py, bench_pytorch_smallcnn.py,
check_pruned_checkpoint.py): thinice's small CNN as a PyTorch module with the same state_dict
names, and the Fashion-MNIST IDX reader. The scripts import it as `thinice_pt`: Python puts
the running script's folder (scripts/) first on the import path.
"""
import gzip

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    """thinice's smallcnn (libtensor/arch_smallcnn.c) with the same state_dict names: conv1 3x3
    1->32 pad 1 + ReLU + maxpool 2, conv2 3x3 32->64 pad 1 + ReLU + maxpool 2, fc1 3136->128 +
    ReLU, fc2 128->10."""

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


def load_fmnist(directory, split, count):
    """The first `count` images of a Fashion-MNIST split ("train" or "t10k") from the gzipped
    IDX files in directory: float32 images (count, 1, 28, 28) in [0, 1] and int64 labels, as
    torch tensors."""
    with gzip.open("%s/%s-images-idx3-ubyte.gz" % (directory, split)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open("%s/%s-labels-idx1-ubyte.gz" % (directory, split)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = torch.from_numpy(x[:count].astype(np.float32) / 255.0)
    return x, torch.from_numpy(y[:count].astype(np.int64))


class ResBlock(nn.Module):
    """ReLU(conv2(ReLU(conv1(x))) + shortcut(x)), biased 3x3 convolutions, no batch norm; the
    shortcut a 1x1 convolution of the block's stride where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class CifarResNet(nn.Module):
    """The small CIFAR-10 ResNet of tests/fixtures/onnx_cifar_resnet.onnx (the VNN-COMP
    "resnet_4b" shape): 3x3 stride-2 stem 3->16 + ReLU, stages of two blocks 16->32 and 32->32,
    each halving the map, then Linear 512->100 + ReLU and Linear 100->10."""

    def __init__(self, width=16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 2, 1)
        self.layer1 = nn.Sequential(ResBlock(width, 2 * width, 2), ResBlock(2 * width, 2 * width, 1))
        self.layer2 = nn.Sequential(ResBlock(2 * width, 2 * width, 2),
                                    ResBlock(2 * width, 2 * width, 1))
        self.linear1 = nn.Linear(2 * width * 16, 100)
        self.linear2 = nn.Linear(100, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(F.relu(self.conv1(x))))
        return self.linear2(F.relu(self.linear1(torch.flatten(x, 1))))


def load_onnx_weights(module, path):
    """Fills module's state_dict from the initializers of an ONNX file exported from it
    (torch.onnx.export keeps the state_dict names when constant folding is off)."""
    import onnx
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    sd = module.state_dict()
    missing = [k for k in sd if k not in inits]
    if missing:
        raise ValueError("%s lacks initializers %s" % (path, ", ".join(missing)))
    module.load_state_dict({k: torch.from_numpy(inits[k].copy()) for k in sd})
    return module


def load_cifar10(directory, split, count=None, offset=0):
    """CIFAR-10 from the binary batches (plain or .gz) in directory: split "train" (the five
    data batches) or "test"; float32 images (n, 3, 32, 32) in [0, 1] and int64 labels."""
    import os
    names = ["data_batch_%d.bin" % i for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    raw = []
    for n in names:
        p = os.path.join(directory, n)
        if os.path.exists(p):
            with open(p, "rb") as f:
                raw.append(f.read())
        else:
            with gzip.open(p + ".gz") as f:
                raw.append(f.read())
    a = np.frombuffer(b"".join(raw), np.uint8).reshape(-1, 3073)
    end = a.shape[0] if count is None else offset + count
    a = a[offset:end]
    x = torch.from_numpy(a[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return x, torch.from_numpy(a[:, 0].astype(np.int64))



SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
                      "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """A safetensors file parsed by hand (the safetensors package is not in Debian: 8-byte
    header length, JSON header, raw little-endian data): (state_dict of torch tensors,
    metadata dict)."""
    import json
    import struct
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    sd = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        arr = np.frombuffer(raw[8 + n + a:8 + n + b], SAFETENSORS_DTYPES[e["dtype"]])
        sd[name] = torch.from_numpy(arr.reshape(e["shape"]).copy())
    return sd, meta
