#!/usr/bin/env python3
"""Input fixtures of tests/adjoint: targets of the wrong shape or with a NaN, a valid target for the default problem
(32 × 16), a small ViT (controls and an image) for the cross-entropy label checks, and the randomised torch models
whose operators test_operator_transposes checks: encoder.h5 (post-LN, ReLU) and gpt.h5 (pre-LN, GELU, final norm,
causal).

Usage: make_inputs.py OUTDIR
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "examples"))
from torch_models import randomise  # noqa: E402


def export(model, out, name, flags=()):
    torch.save(model, os.path.join(out, name + ".pt"))
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_torch.py"), os.path.join(out, name + ".pt"), os.path.join(out, name + ".h5")]
                   + list(flags), check=True)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(3)
    with h5py.File(os.path.join(out, "target_4x4.h5"), "w") as f:
        f["target"] = rng.normal(0, 1, (4, 4))
    with h5py.File(os.path.join(out, "target_32x16.h5"), "w") as f:
        f["target"] = rng.normal(0, 1, (32, 16))
    t = rng.normal(0, 1, (32, 16))
    t[3, 5] = np.nan
    with h5py.File(os.path.join(out, "target_nan.h5"), "w") as f:
        f["target"] = t
    from torchvision.models import VisionTransformer
    model = VisionTransformer(image_size=8, patch_size=4, num_layers=1, num_heads=2, hidden_dim=8, mlp_dim=12, num_classes=5).double().eval()
    export(model, out, "vit")
    from torch import nn
    encoder = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, activation="relu", batch_first=True).double().eval()
    randomise(encoder, torch.Generator().manual_seed(21))
    export(encoder, out, "encoder")
    layer = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    gpt = nn.TransformerEncoder(layer, 1, norm=nn.LayerNorm(8), enable_nested_tensor=False).double().eval()
    randomise(gpt, torch.Generator().manual_seed(22))
    export(gpt, out, "gpt", ["--causal"])
    with h5py.File(os.path.join(out, "image.h5"), "w") as f:
        f["image"] = rng.normal(0, 1, (3, 8, 8))


if __name__ == "__main__":
    main()
