#!/usr/bin/python3
"""Makes the PyTorch parity fixtures of the model suite (tests/check_model.c).

Run from the repository root with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/make_model_fixtures.py

Each architecture is written here again in PyTorch with the module names of the reference
code (HYDRA's vgg_cifar.py / wrn_cifar.py, kuangliu's ResNet and VGG; docs/models.md).

Weights: a ResNet-18 in float32 is 45 MB, too much for the repository. Instead every tensor is
filled with a *test pattern* that C and Python compute bit-identically from the tensor's name
(FNV-1a hash, splitmix64 stream, 16-bit integers times powers of two: exact in float32), so
only the inputs, the logits and the input gradients need to be stored. The fixture lists the
state_dict keys (name, kind, shape, checksum of the values); the C test regenerates the
weights, checks the checksums, writes them to a safetensors file with those keys and loads it
through ti_model_load. One small model (smallcnn, 3x16x16) is also stored with real PyTorch
weights, written by scripts/pt2safetensors.py from a torch.save() checkpoint.

Fixture layout (safetensors): x (N, C, H, W) F32 in [0, 1), labels (N) I64, logits (N, M) F32
in evaluation mode, grad (N, C, H, W) F32 = d/dx of the summed cross-entropy; metadata arch,
input "CxHxW", classes, normalize ("" or "mean=a,b,c;std=d,e,f"), state_dict
"name|kind|d0,d1,..|checksum;..." with kind W (conv/linear weight), B (bias), G (BN weight),
E (BN bias), M (running_mean), V (running_var), N (num_batches_tracked), S (HYDRA score).
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = "tests/fixtures"
GOLDEN = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


# ---- the test pattern (mirrored by pattern_fill() in tests/check_model.c) ------------------

def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def pattern(name, kind, shape):
    """Values of tensor `name`: exact in float32, the same in C."""
    h = fnv1a64(name)
    n = int(np.prod(shape)) if shape else 1
    if kind == "N":
        return np.full(shape, h % 1000, dtype=np.int64)
    i = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(h) + (i + np.uint64(1)) * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = ((z >> np.uint64(48)).astype(np.int64) - 32768).astype(np.float32) / np.float32(32768)
    if kind in ("W", "S"):
        fan_in = n // shape[0]
        e = 2 - (fan_in.bit_length() + 1) // 2  # about sqrt(6 / fan_in): keeps activations O(1)
        v = u * np.float32(2.0 ** e)
    elif kind == "B":
        v = u / np.float32(16)
    elif kind == "G":
        v = np.float32(1) + u / np.float32(4)
    elif kind in ("E", "M"):
        v = u / np.float32(8)
    elif kind == "V":
        v = np.float32(1) + u / np.float32(2)
    else:
        raise ValueError(kind)
    return v.astype(np.float32).reshape(shape)


def checksum(a):
    if a.dtype == np.int64:
        return int(a.reshape(-1)[0]) & MASK64
    bits = a.reshape(-1).view(np.uint32).astype(np.uint64)
    i = np.arange(bits.size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int((bits * (np.uint64(2) * i + np.uint64(1))).sum(dtype=np.uint64))


# ---- safetensors by hand (the safetensors package is not in Debian) -------------------------

def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, numpy array F32 or I64)."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---- the architectures, with the reference module names -----------------------------------

class SmallCNN(nn.Module):
    def __init__(self, C, H, W, M):
        super().__init__()
        self.conv1 = nn.Conv2d(C, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (H // 4) * (W // 4), 128)
        self.fc2 = nn.Linear(128, M)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]


def vgg_features(C, cfg, bias):
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(C, v, 3, padding=1, bias=bias), nn.BatchNorm2d(v), nn.ReLU()]
            C = v
    return nn.Sequential(*layers)


class VGG16BN(nn.Module):  # HYDRA vgg16_bn
    def __init__(self, C, M):
        super().__init__()
        self.features = vgg_features(C, VGG16, False)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(2048, 256), nn.ReLU(), nn.Linear(256, 256),
                                        nn.ReLU(), nn.Linear(256, M))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class VGG16ADMM(nn.Module):  # kuangliu VGG('VGG16') of the ADMM repository
    def __init__(self, C, M, pad):
        super().__init__()
        self.pad = pad
        self.features = nn.Sequential(*vgg_features(C, VGG16 + ["M"], True),
                                      nn.AvgPool2d(1, 1))
        self.classifier = nn.Linear(512, M)

    def forward(self, x):
        if self.pad:  # docs/models.md, other input sizes: zero-pad 28 -> 32
            x = F.pad(x, (self.pad,) * 4)
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):  # kuangliu
    def __init__(self, C, K, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(C, K, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(K)
        self.conv2 = nn.Conv2d(K, K, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(K)
        self.shortcut = nn.Sequential()
        if stride != 1 or C != K:
            self.shortcut = nn.Sequential(nn.Conv2d(C, K, 1, stride, bias=False),
                                          nn.BatchNorm2d(K))

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(o)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, C, M, blocks):
        super().__init__()
        self.conv1 = nn.Conv2d(C, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inp = 64
        for s, (K, n) in enumerate(zip([64, 128, 256, 512], blocks)):
            layers = []
            for i in range(n):
                layers.append(BasicBlock(inp, K, 2 if (s > 0 and i == 0) else 1))
                inp = K
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layers))
        self.linear = nn.Linear(512, M)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class WBlock(nn.Module):  # HYDRA wrn_cifar BasicBlock (pre-activation)
    def __init__(self, C, K, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(C)
        self.conv1 = nn.Conv2d(C, K, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(K)
        self.conv2 = nn.Conv2d(K, K, 3, 1, 1, bias=False)
        self.equal = C == K
        self.convShortcut = None if self.equal else nn.Conv2d(C, K, 1, stride, 0, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        o = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return (x if self.equal else self.convShortcut(a)) + o


class NetworkBlock(nn.Module):
    def __init__(self, n, C, K, stride):
        super().__init__()
        self.layer = nn.Sequential(*[WBlock(C if i == 0 else K, K, stride if i == 0 else 1)
                                     for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class WRN(nn.Module):
    def __init__(self, C, M, widen, hydra_sub_block=False):
        super().__init__()
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(C, 16, 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(4, ch[0], ch[1], 1)
        if hydra_sub_block:  # HYDRA's unused copy of block1
            self.sub_block1 = NetworkBlock(4, ch[0], ch[1], 1)
        self.block2 = NetworkBlock(4, ch[1], ch[2], 2)
        self.block3 = NetworkBlock(4, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.fc = nn.Linear(ch[3], M)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        x = F.relu(self.bn1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def make(arch, C, H, W, M):
    if arch == "smallcnn":
        return SmallCNN(C, H, W, M)
    if arch == "vgg16_bn":
        return VGG16BN(C, M)
    if arch == "vgg16_admm":
        small = min(H, W)
        return VGG16ADMM(C, M, (32 - small + 1) // 2 if small < 32 else 0)
    if arch == "resnet18":
        return ResNet(C, M, [2, 2, 2, 2])
    if arch == "resnet34":
        return ResNet(C, M, [3, 4, 6, 3])
    if arch == "wrn_28_4":
        return WRN(C, M, 4, hydra_sub_block=True)
    if arch == "wrn_28_10":
        return WRN(C, M, 10)
    raise ValueError(arch)


REF_COUNTS = {"vgg16_bn": 15311818, "vgg16_admm": 14728266, "resnet18": 11173962,
              "resnet34": 21282122, "wrn_28_4": 5849050, "wrn_28_10": 36479194}


def kinds(model):
    """state_dict key -> kind letter, from the module types."""
    out = {}
    for mname, mod in model.named_modules():
        pre = mname + "." if mname else ""
        if isinstance(mod, nn.BatchNorm2d):
            for k, v in (("weight", "G"), ("bias", "E"), ("running_mean", "M"),
                         ("running_var", "V"), ("num_batches_tracked", "N")):
                out[pre + k] = v
        elif isinstance(mod, (nn.Conv2d, nn.Linear)):
            out[pre + "weight"] = "W"
            if mod.bias is not None:
                out[pre + "bias"] = "B"
    return out


def pattern_model(model, hydra_scores):
    """Fills the model with the test pattern; returns the key list for the fixture."""
    kd = kinds(model)
    sd = model.state_dict()
    entries = []
    with torch.no_grad():
        for name, t in sd.items():
            k = kd[name]
            v = pattern(name, k, tuple(t.shape))
            t.copy_(torch.from_numpy(v))
            entries.append((name, k, tuple(t.shape), checksum(v)))
            if hydra_scores and k == "W":  # HYDRA's SubnetConv/SubnetLinear score tensors
                sname = name[: -len("weight")] + "popup_scores"
                s = pattern(sname, "S", tuple(t.shape))
                entries.append((sname, "S", tuple(t.shape), checksum(s)))
    return entries


def reference(model, x, labels, norm):
    model.eval()
    xt = torch.from_numpy(x).clone().requires_grad_(True)
    inp = xt
    if norm:
        mean = torch.tensor(norm[0]).view(1, -1, 1, 1)
        std = torch.tensor(norm[1]).view(1, -1, 1, 1)
        inp = (xt - mean) / std
    z = model(inp)
    F.cross_entropy(z, torch.from_numpy(labels), reduction="sum").backward()
    # the same in float64, to show how far float32 itself is from the exact answer
    m64 = model.double()
    with torch.no_grad():
        x64 = torch.from_numpy(x).double()
        if norm:
            x64 = (x64 - mean.double()) / std.double()
        z64 = m64(x64)
    model.float()
    zf = z.detach().numpy()
    rng_ = float(zf.max() - zf.min())
    print("   logits range %.3f, |f32 - f64| / range = %.2e, max |grad| %.3e" % (
        rng_, float((z.detach().double() - z64).abs().max()) / rng_,
        float(xt.grad.abs().max())))
    return zf, xt.grad.numpy()


def fixture(tag, arch, C, H, W, M, N, norm=None, seed=0):
    torch.manual_seed(seed)
    model = make(arch, C, H, W, M)
    entries = pattern_model(model, hydra_scores=(arch == "wrn_28_4"))
    rng = np.random.default_rng(seed + 1000)
    x = rng.random((N, C, H, W), dtype=np.float32)
    labels = rng.integers(0, M, size=N).astype(np.int64)
    print("%s: %s %dx%dx%d, N=%d" % (tag, arch, C, H, W, N))
    logits, grad = reference(model, x, labels, norm)
    sdl = ";".join("%s|%s|%s|%x" % (n, k, ",".join(map(str, s)), c) for n, k, s, c in entries)
    meta = {"arch": arch, "input": "%dx%dx%d" % (C, H, W), "classes": str(M),
            "normalize": "" if not norm else "mean=%s;std=%s" % (
                ",".join("%.9g" % v for v in norm[0]), ",".join("%.9g" % v for v in norm[1])),
            "state_dict": sdl, "generator": "scripts/make_model_fixtures.py, torch " +
            torch.__version__}
    write_safetensors(os.path.join(OUT, "model_%s.safetensors" % tag),
                      [("x", x), ("labels", labels), ("logits", logits), ("grad", grad)], meta)


def count_check():
    """The parameter counts of docs/models.md's table, from the PyTorch definitions."""
    for arch, want in REF_COUNTS.items():
        model = make(arch, 3, 32, 32, 10)
        got = sum(p.numel() for n, p in model.named_parameters() if "sub_block1" not in n)
        assert got == want, (arch, got, want)
    print("parameter counts match docs/models.md")


def real_smallcnn():
    """smallcnn 3x16x16 with PyTorch's own init, through torch.save and pt2safetensors.py."""
    torch.manual_seed(7)
    model = SmallCNN(3, 16, 16, 10)
    pt = os.path.join(OUT, "model_smallcnn_real.pt.tmp")
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, pt)
    dst = os.path.join(OUT, "model_smallcnn_real.safetensors")
    subprocess.check_call([sys.executable, "scripts/pt2safetensors.py", pt, dst, "--arch",
                           "smallcnn", "--input", "3x16x16", "--classes", "10"])
    os.remove(pt)
    rng = np.random.default_rng(77)
    x = rng.random((4, 3, 16, 16), dtype=np.float32)
    labels = rng.integers(0, 10, size=4).astype(np.int64)
    print("smallcnn_real: smallcnn 3x16x16, N=4, PyTorch init")
    logits, grad = reference(model, x, labels, None)
    write_safetensors(os.path.join(OUT, "model_smallcnn_real_expected.safetensors"),
                      [("x", x), ("labels", labels), ("logits", logits), ("grad", grad)],
                      {"arch": "smallcnn", "input": "3x16x16", "classes": "10"})


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    count_check()
    cifar = ([0.4914, 0.4822, 0.4465], [0.2471, 0.2435, 0.2616])
    fmnist = ([0.2860], [0.3530])
    fixture("smallcnn_fmnist", "smallcnn", 1, 28, 28, 10, 8)
    fixture("vgg16_bn_cifar", "vgg16_bn", 3, 32, 32, 10, 4, norm=cifar)
    fixture("vgg16_bn_fmnist", "vgg16_bn", 1, 28, 28, 10, 2)
    fixture("vgg16_admm_cifar", "vgg16_admm", 3, 32, 32, 10, 4)
    fixture("vgg16_admm_fmnist", "vgg16_admm", 1, 28, 28, 10, 2)
    fixture("resnet18_cifar", "resnet18", 3, 32, 32, 10, 8)
    fixture("resnet18_fmnist", "resnet18", 1, 28, 28, 10, 2, norm=fmnist)
    fixture("resnet34_cifar", "resnet34", 3, 32, 32, 10, 2)
    fixture("wrn_28_4_cifar", "wrn_28_4", 3, 32, 32, 10, 2)
    fixture("wrn_28_4_fmnist", "wrn_28_4", 1, 28, 28, 10, 2)
    fixture("wrn_28_10_small", "wrn_28_10", 1, 16, 16, 10, 2)
    real_smallcnn()


if __name__ == "__main__":
    main()
