#!/usr/bin/python3
"""Writes tests/fixtures/st_mixed.safetensors: a safetensors file with F32, F16, BF16 and I64
tensors and string metadata, built by hand (struct + json, as the format document describes;
the safetensors package is not installed) from PyTorch's own dtype conversions, so the C
reader is checked against torch's F16/BF16 rounding. Prints the float32 values the C test
expects (tests/check_io.c, test_st_fixture)."""
import json
import struct
import sys

import torch

tensors = [
    ("conv.weight", torch.tensor([[0.1, -2.5, 3.0], [1e-3, 65504.0, -0.0]], dtype=torch.float32)),
    ("half", torch.tensor([0.1, -1.25, 65504.0, 2.0 ** -24, 3.14159], dtype=torch.float16)),
    ("bf", torch.tensor([0.1, -3.0e38, 1.0, -7.5], dtype=torch.bfloat16)),
    ("steps", torch.tensor([[0, -1], [123456789, 7]], dtype=torch.int64)),
]
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}

header = {"__metadata__": {"format": "pt", "note": "thinice fixture \u00e9"}}
blobs, off = [], 0
for name, t in tensors:
    # bytes in little-endian order; bfloat16 has no numpy type, so go through int16
    raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
    header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                    "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * ((8 - len(text) % 8) % 8)
out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/st_mixed.safetensors"
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
for name, t in tensors:
    vals = t.to(torch.float32).flatten().tolist()
    print(name, ", ".join(repr(v) for v in vals))
