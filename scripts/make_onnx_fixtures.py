#!/usr/bin/python3
"""Makes the ONNX import fixtures of the onnx suite (tests/check_onnx.c).

Run from the repository root with Debian's PyTorch 1.13 and onnx 1.12:
    /usr/bin/python3 scripts/make_onnx_fixtures.py

Each model is a small CNN built in PyTorch with seeded random weights, put in evaluation mode
and exported with torch.onnx.export at a chosen opset (9, 13 and 17 are all covered). Next to
each tests/fixtures/onnx_<name>.onnx goes onnx_<name>_ref.safetensors holding
    x      (N, C, H, W) F32 inputs in [0, 1)
    r      (N, M)       F32 random logit weights (the seed of the vector-Jacobian product)
    logits (N, M)       F32 PyTorch's logits in evaluation mode
    grad   (N, C, H, W) F32 d/dx sum(r * logits), by PyTorch's autograd
The models:
    resnet  residual network, biased convolutions, no batch norm; identity and 1x1-conv
            shortcuts, max and average pooling, Flatten, Gemm (opset 9)
    bnnorm  normalisation prefix (x - mean) / std as Sub and Div by (1, 3, 1, 1) constants,
            convolutions without bias, batch norm kept as BatchNormalization nodes (exported
            with TrainingMode.PRESERVE from eval mode so that it is not folded into the
            convolutions), global average pooling, view(N, -1) (opset 13)
    misc    asymmetric zero padding (F.pad) before a strided convolution, a max pool with
            padding, a rectangular kernel, MatMul by a constant, broadcast Add/Mul by
            constants, dynamic batch axis (Shape/Gather/Unsqueeze/Concat) (opset 17)
and three networks of the kinds robustness benchmarks hold (RobustBench's CIFAR models use
depthwise-separable, grouped and dilated convolutions, SiLU/Swish, GELU, squeeze-excitation
gates and DenseNet/Inception concatenations), with seeded random weights:
    robust  depthwise-separable block (depthwise 3x3 + SiLU + pointwise 1x1), grouped conv +
            LeakyReLU, dilated conv + ELU, a squeeze-excitation gate (GAP, 1x1 convs, Sigmoid,
            broadcast Mul), a DenseNet-style Concat of feature maps, exact GELU, GAP,
            logits (opset 13)
    softmax strided conv + tanh-form GELU, depthwise conv with a channel multiplier + Tanh,
            a Sigmoid whose output is read twice (so it is not fused into a SiLU),
            x.mean((2, 3)) (ReduceMean), a Softmax head: probabilities (opset 11)
    logsoftmax  an Inception-style block of five branches joined by one Concat (1x1, 3x3,
            dilated 3x3, depthwise dilated 3x3, max pool), a hand-written erf GELU
            x * 0.5 * (1 + erf(x * 0.7071...)), SiLU, an Erf of its own, a LogSoftmax head,
            dynamic batch axis (opset 17)
"""
import json
import os
import struct

import numpy as np
import onnx
from onnx import helper
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = "tests/fixtures"


def write_safetensors(path, tensors):
    """A safetensors file by hand (the safetensors package is not in Debian)."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=True)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Conv2d(cin, cout, 1, stride, 0, bias=True)

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1, bias=True)
        self.b1 = Block(8, 8, 1)
        self.b2 = Block(8, 12, 2)
        self.fc = nn.Linear(12 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)      # 16 -> 8
        x = self.b2(self.b1(x))                          # 8 -> 4
        x = F.avg_pool2d(x, 2)                           # 4 -> 2
        return self.fc(torch.flatten(x, 1))


class BNNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2471, 0.2435, 0.2616]).view(1, 3, 1, 1))
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.bn3 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(x)))
        y = self.bn3(y)                                  # a batch norm after a ReLU
        y = F.adaptive_avg_pool2d(y, 1)
        y = y.view(y.size(0), -1)
        return self.fc2(F.relu(self.fc1(y)))


class Misc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, (3, 3), 2, 0, bias=True)
        self.conv2 = nn.Conv2d(6, 8, (1, 3), 1, (0, 1), bias=True)
        self.scale = nn.Parameter(torch.randn(1, 8, 1, 1))
        self.shift = nn.Parameter(torch.randn(8, 1, 1))
        self.w = nn.Parameter(torch.randn(8 * 4 * 4, 10) * 0.1)
        self.b = nn.Parameter(torch.randn(10))

    def forward(self, x):
        x = F.pad(x, (0, 1, 0, 1))                       # TF's SAME for a stride-2 conv
        x = F.relu(self.conv1(x))                         # 16 -> 8
        x = self.conv2(x) * self.scale + self.shift
        x = F.max_pool2d(x, 3, 2, 1)                      # 8 -> 4, padded
        x = x.reshape(x.shape[0], -1)
        return torch.matmul(x, self.w) * 0.5 + self.b


class Robust(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1)
        self.dw = nn.Conv2d(8, 8, 3, 1, 1, groups=8)           # depthwise
        self.pw = nn.Conv2d(8, 12, 1)                          # pointwise
        self.grp = nn.Conv2d(12, 12, 3, 2, 1, groups=3)        # grouped, 16 -> 8
        self.dil = nn.Conv2d(12, 8, 3, 1, 2, dilation=2)       # dilated
        self.se1 = nn.Conv2d(8, 4, 1)
        self.se2 = nn.Conv2d(4, 8, 1)
        self.dense = nn.Conv2d(20, 8, 3, 1, 1)
        self.fc = nn.Linear(28, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.pw(F.silu(self.dw(x)))
        x = F.leaky_relu(self.grp(x), 0.1)
        y = F.elu(self.dil(x), 0.5)
        g = torch.sigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(y, 1)))))
        y = y * g                                              # squeeze-excitation
        z = torch.cat([x, y], 1)                               # DenseNet: 12 + 8 channels
        z = torch.cat([z, F.gelu(self.dense(z))], 1)           # 20 + 8
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(z, 1), 1))


class SoftmaxHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, 2, 1)                  # 16 -> 8
        self.dw = nn.Conv2d(6, 12, 3, 1, 1, groups=6)          # channel multiplier 2
        self.conv2 = nn.Conv2d(12, 8, 3, 1, 1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.gelu(self.conv1(x), approximate="tanh")
        x = torch.tanh(self.dw(x))
        x = self.conv2(x)
        s = torch.sigmoid(x)
        x = x * s + s                                          # Sigmoid read twice
        x = x.mean((2, 3))
        return torch.softmax(self.fc(x) * 3.0, 1)


class LogSoftmaxHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)                   # 16 -> 8
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b2 = nn.Conv2d(8, 4, 3, 1, 1)
        self.b3 = nn.Conv2d(8, 4, 3, 1, 2, dilation=2)
        self.b4 = nn.Conv2d(8, 8, 3, 1, 3, dilation=3, groups=8)
        self.fc = nn.Linear(28, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x * 0.5 * (1.0 + torch.erf(x * 0.7071067811865476))
        x = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x),
                       F.max_pool2d(x, 3, 1, 1)], 1)             # 4 + 4 + 4 + 8 + 8
        x = F.silu(x) + 0.5 * torch.erf(x)                     # an Erf of its own
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.log_softmax(self.fc(x), 1)


def fold_pad_into_conv(path):
    """TensorFlow exports 'SAME' padding as asymmetric Conv pads; PyTorch cannot, so the
    Pad node F.pad made (and the constant subgraph computing its pads) is folded into the
    following Conv's pads attribute: the same function, in TensorFlow's form."""
    m = onnx.load(path)
    g = m.graph
    pad = next(n for n in g.node if n.op_type == "Pad")
    conv = next(n for n in g.node if n.op_type == "Conv" and n.input[0] == pad.output[0])
    conv.input[0] = pad.input[0]
    for a in conv.attribute:
        if a.name == "pads":
            a.ints[:] = [0, 0, 1, 1]          # top, left, bottom, right
    g.node.remove(pad)
    while True:                                # drop nodes nobody reads any more
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def export(name, model, opset, n, post=None, **kw):
    torch.manual_seed(1000 + opset)
    model.eval()
    x = torch.rand(n, 3, 16, 16)
    path = os.path.join(OUT, "onnx_%s.onnx" % name)
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"],
                      output_names=["logits"], **kw)
    if post:
        post(path)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    r = torch.rand(logits.shape) * 2 - 1
    (logits * r).sum().backward()
    write_safetensors(os.path.join(OUT, "onnx_%s_ref.safetensors" % name),
                      {"x": x.numpy(), "r": r.numpy(), "logits": logits.detach().numpy(),
                       "grad": xg.grad.numpy()})
    print(name, os.path.getsize(path), "bytes")


def randomize_bn(model):
    """Non-trivial running statistics and affine parameters (fresh ones are 0 and 1)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def scale_weights(model, s):
    """PyTorch's default initialisation shrinks the signal layer by layer; scaling every
    weight by s gives input gradients large enough for a relative comparison."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(s)
    return model


def tiny(name, nodes, inits, opset=13, out_dim=4):
    """A hand-made graph (onnx.helper) for the error tests: input (N, 1, 4, 4)."""
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 1, 4, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", out_dim])
    g = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="make_onnx_fixtures")
    onnx.save(m, os.path.join(OUT, "onnx_bad_%s.onnx" % name))


def bad_fixtures():
    """Small graphs that are valid ONNX but that thinice must refuse, each with a clear message:
    unknown operator, unsupported attribute value (pooling dilation, a group that does not
    divide the channels, a softmax over feature-map channels), unknown attribute, shape
    mismatch, opset."""
    rng = np.random.RandomState(0)
    w = helper.make_tensor("w", onnx.TensorProto.FLOAT, [2, 1, 3, 3],
                           rng.randn(18).astype(np.float32))
    fcw = helper.make_tensor("fcw", onnx.TensorProto.FLOAT, [4, 7],
                             rng.randn(28).astype(np.float32))
    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1])
    flat = helper.make_node("Flatten", ["c"], ["f"], name="flat")
    gemm = helper.make_node("Gemm", ["f", "fcw"], ["y"], name="fc", transB=1)
    tiny("unknown_op", [helper.make_node("Conv", ["x", "w"], ["c0"], name="conv0", pads=[1, 1, 1, 1]),
                        helper.make_node("Softsign", ["c0"], ["c"], name="soft"), flat, gemm],
         [w, fcw])
    # pooling with dilation (a convolution's is supported)
    tiny("dilation", [helper.make_node("MaxPool", ["x"], ["c"], name="pool0", kernel_shape=[2, 2],
                                       dilations=[2, 2]), flat, gemm], [w, fcw])
    tiny("group", [helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1],
                                    group=3), flat, gemm], [w, fcw])
    # a softmax over the channels of a feature map, not over classes
    tiny("softmax_axis", [conv, helper.make_node("Softmax", ["c"], ["s"], name="soft", axis=1),
                          helper.make_node("Flatten", ["s"], ["f"], name="flat"), gemm],
         [w, fcw])
    tiny("attr", [helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1],
                                   fancy_option=3), flat, gemm], [w, fcw])
    # the Gemm weight takes 7 features, the convolution gives 2 x 4 x 4 = 32
    tiny("shape", [conv, flat, gemm], [w, fcw])
    tiny("opset", [conv, flat, gemm], [w, fcw], opset=18)
    tiny("missing", [conv, helper.make_node("Flatten", ["nowhere"], ["f"], name="flat"), gemm],
         [w, fcw])


def main():
    bad_fixtures()
    torch.manual_seed(0)
    export("resnet", ResNet(), 9, 3)
    torch.manual_seed(1)
    bn = BNNorm()
    randomize_bn(bn)
    export("bnnorm", bn, 13, 3, training=torch.onnx.TrainingMode.PRESERVE)
    torch.manual_seed(2)
    export("misc", Misc(), 17, 2, post=fold_pad_into_conv, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    torch.manual_seed(3)
    export("robust", scale_weights(Robust(), 2.0), 13, 3)
    torch.manual_seed(4)
    export("softmax", scale_weights(SoftmaxHead(), 2.0), 11, 3)
    torch.manual_seed(5)
    export("logsoftmax", scale_weights(LogSoftmaxHead(), 2.0), 17, 3,
           dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


if __name__ == "__main__":
    main()
