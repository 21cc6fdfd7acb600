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
