#!/usr/bin/python3
"""Checks a checkpoint written by thinice-prune from PyTorch's side: the safetensors file is
parsed by thinice_pt.read_safetensors, every tensor becomes a torch tensor of a state_dict,
each "<weight>_mask" is 0/1 and the weight is exactly 0 wherever its mask is 0, and the sparsity over conv and linear weights equals
the JSON report's. For the small CNN on Fashion-MNIST it also loads the weights into a PyTorch
SmallCNN (strict load_state_dict, masks left out) and compares the clean accuracy on the
report's evaluation images (the first eval_images test images) with the report's.

Usage: /usr/bin/python3 scripts/check_pruned_checkpoint.py MODEL.safetensors REPORT.json
Exit 0 and a one-line summary when everything holds, 1 with the reason otherwise.
"""
import json
import sys

import torch

from thinice_pt import SmallCNN, load_fmnist, read_safetensors


def fail(msg):
    print("check_pruned_checkpoint: FAIL: " + msg)
    sys.exit(1)


def main():
    path, report = sys.argv[1], sys.argv[2]
    rep = json.load(open(report))
    sd, meta = read_safetensors(path)
    masks = {k[:-5]: v for k, v in sd.items() if k.endswith("_mask")}
    weights = {k: v for k, v in sd.items() if not k.endswith("_mask")}
    zeros = total = 0
    for name, w in weights.items():
        if w.dim() < 2:
            continue  # biases, batch norm: never pruned
        if name not in masks:
            fail("%s has no mask" % name)
        m = masks[name]
        if not bool(((m == 0) | (m == 1)).all()):
            fail("mask of %s is not 0/1" % name)
        if not bool((w[m == 0] == 0).all()):
            fail("%s is not zero where its mask is 0" % name)
        zeros += int((w == 0).sum())
        total += w.numel()
    if total != rep["weights_total"] or zeros != rep["weights_zero"]:
        fail("%d of %d weights are zero, the report says %d of %d"
             % (zeros, total, rep["weights_zero"], rep["weights_total"]))
    line = "%s: %d tensors (%d masks), sparsity %.6f as reported" % (
        path, len(sd), len(masks), zeros / total)
    if rep["model"] == "smallcnn" and rep["dataset"] == "fashion-mnist":
        net = SmallCNN()
        net.load_state_dict(weights, strict=True)
        net.eval()
        n = rep["eval_images"]
        x, y = load_fmnist("/usr/share/datasets/fashion-mnist", "t10k", n)
        with torch.no_grad():
            pred = net(x).argmax(1).numpy()
        acc = float((pred == y.numpy()).mean())
        # ties between logits can only move a sample or two
        if abs(acc - rep["clean_accuracy"]) > 2.0 / n:
            fail("PyTorch clean accuracy %.4f, the report says %.4f" % (acc, rep["clean_accuracy"]))
        line += "; PyTorch clean accuracy %.4f on %d test images (report %.4f)" % (
            acc, n, rep["clean_accuracy"])
    print("check_pruned_checkpoint: OK: " + line)


if __name__ == "__main__":
    main()
