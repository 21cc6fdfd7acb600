#!/usr/bin/python3
"""Converts a PyTorch checkpoint (.pt / .pth) into a safetensors file thinice can load.

    python3 scripts/pt2safetensors.py model_best.pth.tar model.safetensors \
        --arch wrn_28_4 --input 3x32x32 --classes 10

For users bringing weights trained elsewhere (HYDRA, ADMM, ATMC publish PyTorch checkpoints);
the test suite does not need it. It finds the state_dict inside the usual wrappers
({"state_dict": ...}, {"model": ...}, {"net": ...}, or the dict itself), drops DataParallel's
"module." prefix, converts floating tensors to float32 and integer ones (num_batches_tracked)
to int64, and writes the file by hand (the safetensors package is not needed). Non-tensor
entries (epoch, optimizer state, ...) are skipped and listed. HYDRA's popup_scores and
sub_block1 are kept: thinice reports and ignores them when loading.
"""
import argparse
import json
import os
import struct
import sys

import torch


def find_state_dict(obj):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "net", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                return find_state_dict(obj[key])
        if any(torch.is_tensor(v) for v in obj.values()):
            return obj
    raise SystemExit("pt2safetensors: no state_dict found (top-level keys: %s)" %
                     (list(obj.keys()) if isinstance(obj, dict) else type(obj).__name__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--arch", help="thinice architecture name, stored as metadata")
    ap.add_argument("--input", help="input shape CxHxW, stored as metadata (e.g. 3x32x32)")
    ap.add_argument("--classes", help="number of classes, stored as metadata")
    a = ap.parse_args()

    obj = torch.load(a.src, map_location="cpu")
    sd = find_state_dict(obj)
    header, blobs, off, skipped = {}, [], 0, []
    meta = {k: v for k, v in (("arch", a.arch), ("input", a.input), ("classes", a.classes)) if v}
    if meta:
        header["__metadata__"] = meta
    for name, t in sd.items():
        if not torch.is_tensor(t):
            skipped.append(name)
            continue
        if name.startswith("module."):
            name = name[len("module."):]
        t = t.detach().cpu().contiguous()
        if t.is_floating_point() or t.dtype == torch.bool:
            t, dt = t.to(torch.float32), "F32"
        else:
            t, dt = t.to(torch.int64), "I64"
        b = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = a.dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, a.dst)
    print("pt2safetensors: wrote %d tensors (%.1f MB) to %s" % (len(blobs), off / 1e6, a.dst),
          file=sys.stderr)
    if skipped:
        print("pt2safetensors: skipped non-tensor entries: %s" % ", ".join(skipped),
              file=sys.stderr)


if __name__ == "__main__":
    main()
