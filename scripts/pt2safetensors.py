#!/usr/bin/python3
"""Converts a PyTorch checkpoint (.pt / .pth) into a safetensors file thinice can load.

    python3 scripts/pt2safetensors.py model_best.pth.tar model.safetensors \\
        --arch wrn_28_4 --input 3x32x32 --classes 10 [--mean 0.4914,0.4822,0.4465 \\
        --std 0.2471,0.2435,0.2616] [--hydra-sparsity 0.9] [--masks masks.pt]

For users bringing weights trained elsewhere; the test suite does not need it. It finds the
state_dict inside the usual wrappers ({"state_dict": ...}, {"model": ...}, {"net": ...}, or the
dict itself), drops DataParallel's "module." prefix, converts floating tensors to float32 and
integer ones (num_batches_tracked) to int64, and writes the file by hand (the safetensors
package is not needed). Non-tensor entries (epoch, optimizer state, ...) are skipped and
listed. The checkpoints pruning methods publish come in three kinds, all handled:

- plain weights with exact zeros (ADMM, ATMC, magnitude pruning): written as they are; thinice
  measures the sparsity from the zeros;
- weights plus "<layer>.popup_scores" (HYDRA): kept as they are, so that thinice-study applies
  them as masks at the sparsity its --pruned hydra:SPARSITY:FILE names; or, with
  --hydra-sparsity S, turned into masks here (each layer keeps its n - floor(S n) scores of
  largest magnitude, as HYDRA's GetSubnet): the weights are multiplied by them and the masks
  written as BOOL "<weight>_mask" tensors, for thinice-attack and any other tool;
- masks beside the weights: torch.nn.utils.prune's "<layer>.weight_orig" + "<layer>.weight_mask"
  buffers, or a separate file or checkpoint entry of masks (--masks FILE, a dict name -> 0/1
  tensor keyed by the weight's name, with or without "_mask"); the weights are multiplied by
  their masks and the masks written as BOOL "<weight>_mask".

--mean/--std record a per-channel normalisation the network expects in front of it (inputs
in [0, 1]) as metadata, which thinice restores inside the model so that eps applies to [0, 1]
pixels.
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


def strip(name):
    return name[len("module."):] if name.startswith("module.") else name


def keep_count(n, sparsity):
    """Weights kept at this sparsity: n - floor(s n), exact for decimal sparsities."""
    from fractions import Fraction
    return n - int(Fraction(repr(sparsity)) * n)


def apply_masks(sd, masks):
    """weight * mask for every (weight name -> mask); masks land under "<weight>_mask"."""
    for w, m in masks.items():
        if w not in sd:
            raise SystemExit("pt2safetensors: a mask for %s, which the checkpoint lacks" % w)
        m = m.to(torch.float32)
        if m.shape != sd[w].shape or not bool(((m == 0) | (m == 1)).all()):
            raise SystemExit("pt2safetensors: the mask of %s is not a 0/1 tensor of its shape" % w)
        sd[w] = sd[w].to(torch.float32) * m
        sd[w + "_mask"] = m.to(torch.bool)


def hydra_masks(sd, sparsity):
    masks = {}
    for name in [k for k in sd if k.endswith(".popup_scores")]:
        w = name[:-len(".popup_scores")] + ".weight"
        s = sd.pop(name).to(torch.float32).abs().flatten()
        keep = keep_count(s.numel(), sparsity)
        m = torch.zeros_like(s)
        m[torch.argsort(s, descending=True, stable=True)[:keep]] = 1
        masks[w] = m.view_as(sd[w])
    return masks


def prune_buffer_masks(sd):
    """torch.nn.utils.prune: weight = weight_orig * weight_mask."""
    masks = {}
    for name in [k for k in sd if k.endswith(".weight_orig")]:
        w = name[:-len("_orig")]
        sd[w] = sd.pop(name)
        masks[w] = sd.pop(w + "_mask")
    return masks


def write(path, sd, meta):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in sd.items():
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bool:
            dt = "BOOL"
        elif t.is_floating_point():
            t, dt = t.to(torch.float32), "F32"
        else:
            t, dt = t.to(torch.int64), "I64"
        b = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
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
    return len(blobs), off


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--arch", help="thinice architecture name, stored as metadata")
    ap.add_argument("--input", help="input shape CxHxW, stored as metadata (e.g. 3x32x32)")
    ap.add_argument("--classes", help="number of classes, stored as metadata")
    ap.add_argument("--mean", help="per-channel mean of the input normalisation, a,b,c")
    ap.add_argument("--std", help="per-channel std of the input normalisation, a,b,c")
    ap.add_argument("--hydra-sparsity", type=float,
                    help="turn HYDRA's popup_scores into masks at this sparsity")
    ap.add_argument("--masks", help="a .pt file (or a key of the checkpoint) of masks")
    a = ap.parse_args()
    if (a.mean is None) != (a.std is None):
        raise SystemExit("pt2safetensors: --mean and --std go together")

    obj = torch.load(a.src, map_location="cpu")
    skipped, sd = [], {}
    for name, t in find_state_dict(obj).items():
        if torch.is_tensor(t):
            sd[strip(name)] = t
        else:
            skipped.append(name)
    masks = prune_buffer_masks(sd)
    if a.hydra_sparsity is not None:
        masks.update(hydra_masks(sd, a.hydra_sparsity))
    if a.masks:
        extra = obj[a.masks] if isinstance(obj, dict) and a.masks in obj else \
            torch.load(a.masks, map_location="cpu")
        masks.update({strip(k)[:-5] if k.endswith("_mask") else strip(k): v
                      for k, v in extra.items()})
    apply_masks(sd, masks)
    meta = {k: v for k, v in (("arch", a.arch), ("input", a.input), ("classes", a.classes),
                              ("mean", a.mean), ("std", a.std)) if v}
    n, size = write(a.dst, sd, meta)
    print("pt2safetensors: wrote %d tensors (%.1f MB, %d masks) to %s"
          % (n, size / 1e6, len(masks), a.dst), file=sys.stderr)
    if skipped:
        print("pt2safetensors: skipped non-tensor entries: %s" % ", ".join(skipped),
              file=sys.stderr)


if __name__ == "__main__":
    main()
