#!/usr/bin/python3
"""Writes the fuzzers' seed corpora, tests/fuzz/corpus/<parser>/ (see docs/fuzzing.md).

Run from the repository root with Debian's numpy and onnx 1.12 (no PyTorch needed):
    /usr/bin/python3 scripts/make_fuzz_corpus.py

Each corpus holds small valid inputs that reach deep into its parser (a checkpoint every
key of the fuzzers' small CNN accepts, data set files plain and gzip, configuration files,
ONNX graphs covering every supported operator at opsets 9, 13 and 17, CSV files) and a few
invalid ones that stop at known checks. Everything is deterministic (fixed seeds, gzip
without a time stamp), so re-running the script rewrites the same bytes. The harness of
each parser (tests/fuzz/fuzz_<parser>.c) says how its input is laid out. The inputs named
regress_* are not made here: they are what the fuzzers found, kept for the regression tests.
"""
import gzip
import json
import os
import shutil
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = "tests/fuzz/corpus"
rng = np.random.RandomState(0)


def put(parser, name, data):
    d = os.path.join(OUT, parser)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---- safetensors ---------------------------------------------------------------------------

ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1",
             "BOOL": "u1"}


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, values)]; BF16 values are float32 cut to their top half."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dt, shape, vals in tensors:
        if dt == "BF16":
            b = (np.asarray(vals, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            b = np.asarray(vals).astype(ST_DTYPES[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


# the fuzzers' model: smallcnn for 1x4x4 inputs and 2 classes (tests/fuzz/fuzz_safetensors.c)
SMALLCNN = [("conv1.weight", (32, 1, 3, 3)), ("conv1.bias", (32,)), ("conv2.weight", (64, 32, 3, 3)),
            ("conv2.bias", (64,)), ("fc1.weight", (128, 64)), ("fc1.bias", (128,)),
            ("fc2.weight", (2, 128)), ("fc2.bias", (2,))]


def safetensors_corpus():
    # every key in one byte per value (a valid checkpoint of 28 kB), a mask, unknown extras
    t = [(n, "U8", s, rng.randint(0, 3, size=s)) for n, s in SMALLCNN]
    t.append(("conv1.weight_mask", "BOOL", (32, 1, 3, 3), rng.randint(0, 2, size=(32, 1, 3, 3))))
    t.append(("fc.popup_scores", "F16", (2, 2), rng.randn(2, 2)))
    put("safetensors", "smallcnn_u8.safetensors",
        safetensors(t, {"arch": "smallcnn", "input": "1x4x4", "classes": "2",
                        "normalize": "mean=0.286;std=0.353"}))
    # every dtype the reader converts, DataParallel's "module." prefix on one key
    dts = ["F32", "BF16", "U8", "F64", "BOOL", "I32", "F16", "I64"]
    t = []
    for (n, s), dt in zip(SMALLCNN, dts):
        v = rng.randint(0, 2, size=s) if dt in ("U8", "BOOL") else rng.randn(*s) * 0.1
        if dt in ("I32", "I64"):
            v = rng.randint(-3, 4, size=s)
        t.append(("module." + n if n == "fc2.bias" else n, dt, s, v))
    put("safetensors", "smallcnn_mixed.safetensors",
        safetensors(t, {"mean": "0.5", "std": "0.25"}))
    shutil.copy("tests/fixtures/st_mixed.safetensors", os.path.join(OUT, "safetensors"))
    # invalid: a header length past the end, overlapping ranges, an unsupported dtype, a NaN,
    # a shape the model does not take
    put("safetensors", "bad_header_length.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
    h = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' \
        b'"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    put("safetensors", "bad_overlap.safetensors", struct.pack("<Q", len(h)) + h + bytes(8))
    h = b'{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}'
    put("safetensors", "bad_dtype.safetensors", struct.pack("<Q", len(h)) + h + bytes(2))
    # header shapes the reader refuses: 9 dimensions, a product beyond size_t, a non-object
    h = b'{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]},' \
        b'"b":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[1,1]},' \
        b'"c":[],"__metadata__":{"k":"v","n":1}}'
    put("safetensors", "bad_shapes.safetensors", struct.pack("<Q", len(h)) + h + bytes(1))
    put("safetensors", "bad_nan.safetensors",
        safetensors([("conv1.bias", "F32", (2,), [1.0, np.nan])]))
    put("safetensors", "bad_cifar_shape.safetensors",
        safetensors([("conv1.weight", "U8", (32, 3, 3, 3), np.zeros((32, 3, 3, 3)))],
                    {"arch": "smallcnn", "input": "3x32x32"}))


# ---- data sets -----------------------------------------------------------------------------

def idx_images(n, h, w):
    return struct.pack(">IIII", 2051, n, h, w) + rng.randint(0, 256, size=n * h * w,
                                                             dtype=np.uint8).tobytes()


def idx_labels(n):
    return struct.pack(">II", 2049, n) + rng.randint(0, 10, size=n, dtype=np.uint8).tobytes()


def cifar(n):
    recs = []
    for _ in range(n):
        recs.append(bytes([rng.randint(0, 10)]) + rng.randint(0, 256, size=3072,
                                                              dtype=np.uint8).tobytes())
    return b"".join(recs)


def data_corpus():
    """The layout of tests/fuzz/fuzz_data.c: a mode byte (bits 0-1 the kind and split, bits
    2-4 the first sample kept, 5-7 how many), then the file(s)."""
    def fashion(mode, count, images, labels, offset=0):
        return bytes([mode | offset << 2 | count << 5]) + struct.pack("<H", len(images)) + \
            images + labels

    put("data", "idx_test.bin", fashion(0, 0, idx_images(3, 4, 5), idx_labels(3)))
    put("data", "idx_test_gz.bin", fashion(0, 2, gz(idx_images(4, 3, 3)), gz(idx_labels(4)), 1))
    put("data", "idx_train.bin", fashion(1, 1, idx_images(2, 28, 28), gz(idx_labels(2))))
    put("data", "idx_bad_label.bin",
        fashion(0, 0, idx_images(2, 2, 2), struct.pack(">II", 2049, 2) + bytes([3, 10])))
    put("data", "idx_bad_count.bin", fashion(0, 0, idx_images(2, 2, 2), idx_labels(3)))
    put("data", "cifar_test.bin", bytes([2]) + cifar(2))
    put("data", "cifar_test_gz.bin", bytes([2 | 1 << 2 | 1 << 5]) + gz(cifar(2)))
    put("data", "cifar_train_gz.bin", bytes([3]) + gz(cifar(1)))
    # two gzip members one after the other (what `cat a.gz b.gz` makes): one stream to zlib
    put("data", "cifar_two_members.bin", bytes([2]) + gz(cifar(1)) + gz(cifar(1)))
    put("data", "cifar_truncated.bin", bytes([2]) + cifar(1)[:3000])
    # a 20-byte gzip file whose size trailer claims 4 GiB - 1 (it once sized the first buffer)
    lie = bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
    put("data", "gzip_lying_trailer.bin", bytes([2]) + lie)


# ---- JSON and study configurations ---------------------------------------------------------

def json_corpus():
    for name in ("default", "paper", "cifar-small"):
        shutil.copy("configs/%s.json" % name, os.path.join(OUT, "json", "config_%s.json" % name))
    put("json", "config_sections.json",
        b'{"_comment": "x", "name": "t", "networks": ["smallcnn", "resnet18"], '
        b'"sparsities": [0.5, 0.99], "seed": 42, "eps": 0.0313725, "dense": {"lr": 0.1, '
        b'"loss": "trades"}, "prune": {"train_count": 0}, "attack": {"version": "apgd-ce,fab",'
        b' "count": 8}, "fmn": {"norm": "l2", "steps": 10}}')
    put("json", "config_bad_key.json", b'{"dense": {"epoch": 3}}')
    put("json", "config_bad_range.json", b'{"sparsities": [1.5], "batch_size": 0.5}')
    put("json", "values.json",
        b'[null, true, false, 0, -0, 1.5e-320, -1.7976931348623157e308, 123456789012345678,'
        b' 0.1, 1E+2, "", "a\\"b\\\\c\\/d\\b\\f\\n\\r\\t", "\\u00e9\\u20ac\\ud83d\\ude00",'
        b' "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", {}, [], {"k": {"k": [[{}]]}}]')
    put("json", "nested.json", b"[" * 64 + b"]" * 64)
    put("json", "bad_deep.json", b"[" * 65 + b"]" * 65)
    put("json", "bad_dup.json", b'{"a": 1, "b": 2, "a": 3}')
    put("json", "bad_surrogate.json", b'"\\udc00\\ud800"')
    put("json", "bad_utf8.json", b'"\xed\xa0\x80 \xc0\xaf"')
    put("json", "bad_number.json", b"[1e400, 01, 1., -]")


# ---- ONNX ----------------------------------------------------------------------------------

def init(name, arr, raw=True):
    """An initializer as raw_data (raw) or in the typed repeated field."""
    a = np.asarray(arr)
    if raw:
        return numpy_helper.from_array(a, name)
    dt = TensorProto.FLOAT if a.dtype == np.float32 else TensorProto.INT64
    return helper.make_tensor(name, dt, a.shape, a.flatten().tolist())


def w(*shape):
    return (rng.randn(*shape) * 0.3).astype(np.float32)


def model(name, nodes, inits, opset, C=1, HW=4, M=3, batch="N", ir=7):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, C, HW, HW])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, M])
    inputs = [x]
    if ir < 4:  # initializers were graph inputs too before IR version 4
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    g = helper.make_graph(nodes, name, inputs, [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="make_fuzz_corpus")
    m.ir_version = ir
    put("onnx", "%s_opset%d.onnx" % (name, opset), m.SerializeToString())


N = helper.make_node


def onnx_corpus():
    # Conv (padded, strided), Relu, Flatten, Gemm with transB: the common CNN head
    model("conv_gemm", [N("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2],
                          kernel_shape=[3, 3]),
                        N("Relu", ["c"], ["r"]), N("Flatten", ["r"], ["f"], axis=1),
                        N("Gemm", ["f", "fw", "fb"], ["y"], transB=1, alpha=1.0, beta=1.0)],
          [init("w", w(2, 1, 3, 3)), init("b", w(2), raw=False), init("fw", w(3, 8)),
           init("fb", w(3))], 13)
    # batch norm, the three pools, MatMul + Add
    model("bn_pools", [N("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                       N("BatchNormalization", ["c", "g", "be", "mu", "var"], ["bn"],
                         epsilon=1e-5, momentum=0.9),
                       N("MaxPool", ["bn"], ["p"], kernel_shape=[2, 2], strides=[1, 1],
                         pads=[0, 0, 1, 1]),
                       N("AveragePool", ["p"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         count_include_pad=1, strides=[2, 2]),
                       N("GlobalAveragePool", ["a"], ["gp"]), N("Flatten", ["gp"], ["f"]),
                       N("MatMul", ["f", "mw"], ["mm"]), N("Add", ["mm", "mb"], ["y"])],
          [init("w", w(4, 1, 3, 3)), init("g", w(4) + 1), init("be", w(4)), init("mu", w(4)),
           init("var", np.abs(w(4)) + 0.5), init("mw", w(4, 3)), init("mb", w(3), raw=False)], 9)
    # the dynamic batch of a PyTorch export: Shape, Gather, Unsqueeze, Concat, Reshape
    model("reshape", [N("Shape", ["x"], ["s"]), N("Gather", ["s", "zero"], ["n"], axis=0),
                      N("Unsqueeze", ["n", "ax0"], ["n1"]),
                      N("Concat", ["n1", "minus1"], ["shape"], axis=0),
                      N("Reshape", ["x", "shape"], ["f"]), N("Gemm", ["f", "fw"], ["y"])],
          [init("zero", np.array(0, np.int64)), init("ax0", np.array([0], np.int64), raw=False),
           init("minus1", np.array([-1], np.int64)), init("fw", w(16, 3))], 13)
    # elementwise ops, constants, Pad and Clip as inputs (opset 13)
    model("misc13", [N("Constant", [], ["k"], value=numpy_helper.from_array(w(1, 2, 1, 1))),
                     N("Constant", [], ["pads"], value_ints=[0, 0, 0, 1, 0, 0, 1, 0]),
                     N("Constant", [], ["lo"], value_float=-0.5),
                     N("Conv", ["x", "w"], ["c"], kernel_shape=[2, 2], auto_pad="SAME_UPPER"),
                     N("Mul", ["c", "k"], ["m"]), N("Sub", ["m", "sh"], ["s"]),
                     N("Div", ["s", "dv"], ["d"]),
                     N("Pad", ["d", "pads"], ["p"], mode="constant"),
                     N("Clip", ["p", "lo", ""], ["cl"]),
                     N("Dropout", ["cl"], ["dr"]), N("Identity", ["dr"], ["id"]),
                     N("Cast", ["id"], ["ca"], to=TensorProto.FLOAT),
                     N("AveragePool", ["ca"], ["ap"], kernel_shape=[5, 5]),
                     N("Squeeze", ["ap", "ax23"], ["sq"]), N("Unsqueeze", ["sq", "ax2"], ["us"]),
                     N("Flatten", ["us"], ["f"]), N("Gemm", ["f", "fw"], ["y"])],
          [init("w", w(2, 1, 2, 2)), init("sh", w(2, 1, 1)), init("dv", np.abs(w(1)) + 1),
           init("ax23", np.array([2, 3], np.int64)), init("ax2", np.array([2], np.int64)),
           init("fw", w(2, 3))], 13)
    # the same ideas with opset 9's attributes (Pad pads, Clip min/max, Squeeze axes)
    model("misc9", [N("Pad", ["x"], ["p"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="constant",
                      value=0.0),
                    N("Conv", ["p", "w", "b"], ["c"], dilations=[1, 1], group=1),
                    N("Clip", ["c"], ["cl"], min=0.0, max=6.0),
                    N("MaxPool", ["cl"], ["mp"], kernel_shape=[2, 2], strides=[2, 2],
                      ceil_mode=1),
                    N("GlobalAveragePool", ["mp"], ["gp"]),
                    N("Squeeze", ["gp"], ["sq"], axes=[2, 3]),
                    N("Gemm", ["sq", "fw", "fb"], ["y"], transB=0)],
          [init("w", w(3, 1, 3, 3)), init("b", w(3)), init("fw", w(3, 3)), init("fb", w(3))], 9)
    # opset 17, two input channels and a fixed batch of 1
    model("batch1", [N("Conv", ["x", "w"], ["c"], group=1, pads=[1, 1, 1, 1]),
                      N("Relu", ["c"], ["r"]), N("Flatten", ["r"], ["f"]),
                      N("Gemm", ["f", "fw"], ["y"], transB=1)],
          [init("w", w(4, 2, 3, 3)), init("fw", w(3, 64))], 17, C=2, batch=1)
    # IR version 3: initializers also listed as graph inputs; Dropout's unused mask output,
    # Constant value_floats, batch norm of a flattened (N, C) tensor
    model("legacy", [N("Flatten", ["x"], ["f"]),
                     N("Dropout", ["f"], ["d", "mask"], ratio=0.5),
                     N("Constant", [], ["cb"], value_floats=[0.1, -0.2, 0.3]),
                     N("Gemm", ["d", "fw", "cb"], ["h"], transB=1),
                     N("BatchNormalization", ["h", "g", "be", "mu", "var"], ["y"])],
          [init("fw", w(3, 16)), init("g", w(3) + 1), init("be", w(3)), init("mu", w(3)),
           init("var", np.abs(w(3)) + 0.5)], 9, ir=3)
    # integer values: Gather of a 1-element vector, Squeeze and Unsqueeze of integers,
    # Identity and Cast of integers, Concat of a constant, Reshape with 0 and -1
    model("intops", [N("Shape", ["x"], ["s"]), N("Gather", ["s", "i0"], ["n"], axis=0),
                     N("Squeeze", ["n", "ax0"], ["n0"]), N("Unsqueeze", ["n0", "ax0"], ["n1"]),
                     N("Identity", ["n1"], ["n2"]), N("Cast", ["n2"], ["n3"], to=7),
                     N("Concat", ["n3", "minus1"], ["shape"], axis=0),
                     N("Reshape", ["x", "shape"], ["f"]),
                     N("Reshape", ["f", "zero_keep"], ["f2"], allowzero=0),
                     N("MatMul", ["f2", "mw"], ["y"])],
          [init("i0", np.array([0], np.int64)), init("ax0", np.array([0], np.int64)),
           init("minus1", np.array([-1], np.int64)),
           init("zero_keep", np.array([0, 16], np.int64)), init("mw", w(16, 3))], 13)
    # one constant in two roles (a convolution's bias and a batch norm's shift): refused
    model("roles", [N("Conv", ["x", "w", "b"], ["c"]),
                    N("BatchNormalization", ["c", "g", "b", "mu", "var"], ["bn"]),
                    N("GlobalAveragePool", ["bn"], ["gp"]), N("Flatten", ["gp"], ["f"]),
                    N("Gemm", ["f", "fw"], ["y"], transB=1)],
          [init("w", w(2, 1, 3, 3)), init("b", w(2)), init("g", w(2) + 1), init("mu", w(2)),
           init("var", np.abs(w(2)) + 0.5), init("fw", w(3, 2))], 13)
    # grouped and dilated convolutions, the activations, SiLU and GELU patterns (fused at
    # load time), Concat of feature maps, ReduceMean, a LogSoftmax head (opset 13)
    model("acts13", [N("Conv", ["x", "w"], ["c"], group=2, dilations=[2, 2], pads=[2, 2, 2, 2]),
                     N("Sigmoid", ["c"], ["sg"]), N("Mul", ["c", "sg"], ["silu"]),
                     N("Div", ["silu", "sqrt2"], ["d"]), N("Erf", ["d"], ["e"]),
                     N("Add", ["e", "one"], ["e1"]), N("Mul", ["silu", "e1"], ["m"]),
                     N("Mul", ["m", "half"], ["gelu"]), N("Tanh", ["gelu"], ["t"]),
                     N("LeakyRelu", ["t"], ["lr"], alpha=0.1), N("Elu", ["lr"], ["el"], alpha=1.0),
                     N("Concat", ["el", "c"], ["cat"], axis=1),
                     N("ReduceMean", ["cat"], ["rm"], axes=[2, 3], keepdims=0),
                     N("Gemm", ["rm", "fw"], ["z"], transB=1),
                     N("LogSoftmax", ["z"], ["y"], axis=1)],
          [init("w", w(4, 1, 3, 3)), init("sqrt2", np.array(1.4142135, np.float32)),
           init("one", np.array(1.0, np.float32)), init("half", np.array(0.5, np.float32)),
           init("fw", w(3, 8))], 13, C=2)
    # a Softmax head (loaded with a warning: attacks on probabilities are weak), opset 11
    model("softmax11", [N("Flatten", ["x"], ["f"]), N("Gemm", ["f", "fw"], ["z"], transB=1),
                        N("Softmax", ["z"], ["y"], axis=1)], [init("fw", w(3, 16))], 11)
    # implausibly large: each is refused before allocating (a 20000x20000 image, a pad of
    # 20000 pixels in a Conv and in a Pad, a broadcast that multiplies the image, a
    # convolution whose patches are too many, concatenations that multiply the image);
    # Check's test_fuzz_regressions loads them
    model("huge_input", [N("GlobalAveragePool", ["x"], ["g"]), N("Flatten", ["g"], ["y"])], [],
          13, HW=20000, M=1)
    gap = [N("GlobalAveragePool", ["c"], ["g"]), N("Flatten", ["g"], ["y"])]
    model("huge_conv_pads", [N("Conv", ["x", "w"], ["c"], pads=[20000] * 4)] + gap,
          [init("w", w(1, 1, 3, 3))], 13, M=1)
    model("huge_pad_op", [N("Pad", ["x"], ["c"], pads=[0, 0, 20000, 20000, 0, 0, 20000, 20000])]
          + gap, [], 9, M=1)
    big = N("Pad", ["x"], ["p"], pads=[0, 0, 1000, 1000, 0, 0, 1000, 1000])
    model("huge_broadcast", [big, N("Add", ["p", "k"], ["c"])] + gap,
          [init("k", w(8, 1, 1, 1))], 9, M=1)
    model("huge_patches", [big, N("Conv", ["p", "w"], ["c"])] + gap,
          [init("w", w(1, 1, 5, 5))], 9, M=1)
    # Concat of one map with itself, three times over: 8^3 = 512 copies of the image
    cat = [N("Pad", ["x"], ["p0"], pads=[0, 0, 250, 250, 0, 0, 250, 250])]
    for i in range(3):
        cat.append(N("Concat", ["p%d" % i] * 8, ["p%d" % (i + 1)], axis=1))
    model("huge_concat", cat + [N("GlobalAveragePool", ["p3"], ["g"]),
                                N("Flatten", ["g"], ["y"])], [], 13, M=512)
    for name in ("unknown_op", "attr", "shape"):
        shutil.copy("tests/fixtures/onnx_bad_%s.onnx" % name, os.path.join(OUT, "onnx"))
    shutil.copy("tests/fixtures/onnx_misc.onnx", os.path.join(OUT, "onnx"))


# ---- CSV -----------------------------------------------------------------------------------

def csv_corpus():
    shutil.copy("tests/fixtures/stats_groups.csv", os.path.join(OUT, "csv"))
    put("csv", "two_columns.csv", b"a,b\n1,2\n3,3\n0.5,-1e3\n7,\n,8\n2,2\n")
    put("csv", "quoted_crlf.csv",
        b'"x, y","b"\r\n" 1 ", 2\r\n"3""",4\r\n\r\n5,"line\nbreak"\r\n')
    put("csv", "infinities.csv", b"u,v\ninf,-inf\n1,1\n-inf,inf\n1e308,2\n")
    put("csv", "ties.csv", b"p,q\n" + b"1,1\n" * 12)
    put("csv", "bad_quote.csv", b'a,b\n"open,2\n')
    put("csv", "bad_fields.csv", b"a,b\n1,2,3\n")
    put("csv", "bad_nan.csv", b"a,b\nnan,1\n1,2\n")
    # group labels of 300 bytes (once cut to 255 and then matching no cell)
    put("csv", "long_label.csv", b"group,value\n" + (b"g" * 300 + b",1\n") * 2 + b"h,2\n")


def main():
    # inputs the fuzzers found (regress_*, kept for the regression tests) are left alone
    for p in ("safetensors", "data", "json", "onnx", "csv"):
        os.makedirs(os.path.join(OUT, p), exist_ok=True)
    safetensors_corpus()
    data_corpus()
    json_corpus()
    onnx_corpus()
    csv_corpus()
    total = 0
    for root, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print("corpus: %d bytes" % total)


if __name__ == "__main__":
    main()
