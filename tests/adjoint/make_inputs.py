#!/usr/bin/env python3
"""Input fixtures of tests/adjoint: targets of the wrong shape or with a NaN, valid targets for the default problem
(32 × 16) and for 4 tokens of 8 × 8 pixels, a small ViT (controls and an image) for the cross-entropy label checks, and
the randomised torch models whose operators test_operator_transposes checks: encoder.h5 (post-LN, ReLU) and gpt.h5
(pre-LN, GELU, final norm, causal). For the convolutional models (test_convolution_transposes,
test_convolution_gradient; docs/controls-format.md, "Convolutional models"), every weight random: conv.h5, a 2-stage
model without image embedding (stage 0: 6 tokens of 8 × 6 pixels, 2 heads, 2 layers with token embedding, J = 2,
3 × 3 stencils but layer 1's attention, 5 × 5 (FFTW), and its w_2, 5 × 3; stage 1: 3 tokens of 4 × 3 pixels, a token
restriction); cvt.h5, a 2-stage classifier (stage 0: 4 tokens of 8 × 6 pixels from a 3 × 16 × 12 image; stage 1:
8 tokens of 4 × 3 pixels, a prolongation; 5 classes) and its cvt_image.h5.

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


def conv_file(path, stages, image, rng):
    """A convolutional controls file of stages (N_x, N_y1, N_y2, N_h, layers, embedding), each layer given as (the
    attention's stencil size, [w_1's, …, w_J's]): weights ~ N(0, 0.16), σ1 ~ U(−1/2, 1/2), σ2 ~ U(1/2, 2); with image, a
    /cvt classifier of a 3 × 16 × 12 image into 5 classes."""
    w = lambda *shape: rng.normal(0, 0.4, shape)
    with h5py.File(path, "w") as f:
        for s, (Nx, N1, N2, Nh, layers, embedding) in enumerate(stages):
            g = f.create_group(f"stages/{s}")
            for name, v in zip(("N_x", "N_y1", "N_y2", "N_h"), (Nx, N1, N2, Nh)):
                g.attrs[name] = float(v)
            for n, (k_attention, k_ffn) in enumerate(layers):
                layer = g.create_group(f"layers/{n}")
                for name in ("conv_WQ", "conv_WK", "conv_WV"):
                    layer[name] = w(Nh, *k_attention)
                if embedding:
                    layer["embed_W"], layer["embed_b"] = w(Nx, 3, 3), w(Nx)
                for j, k in enumerate(k_ffn, 1):
                    layer[f"conv_W{j}"], layer[f"b{j}"] = w(*k), w(Nx)
                layer.attrs["sigma1"], layer.attrs["sigma2"] = rng.uniform(-0.5, 0.5), rng.uniform(0.5, 2)
        if image:
            g = f.create_group("cvt")
            g["embedding_W"], g["embedding_b"] = w(stages[0][0], 3, 3, 3), w(stages[0][0])
            g["head_W"], g["head_b"] = w(stages[-1][0], 5), w(5)
            for name, v in (("stride", 2), ("padding", 1), ("image_height", 16), ("image_width", 12)):
                g.attrs[name] = float(v)


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
    conv_file(os.path.join(out, "conv.h5"), [(6, 8, 6, 2, [((3, 3), [(3, 3), (3, 3)]), ((5, 5), [(3, 3), (5, 3)])], True),
                                             (3, 4, 3, 1, [((3, 3), [(3, 3), (1, 3)])], False)], False, rng)
    conv_file(os.path.join(out, "cvt.h5"), [(4, 8, 6, 2, [((3, 3), [(3, 3)])], True), (8, 4, 3, 3, [((3, 3), [(3, 3)])], False)], True, rng)
    with h5py.File(os.path.join(out, "cvt_image.h5"), "w") as f:
        f["image"] = rng.normal(0, 1, (3, 16, 12))
    with h5py.File(os.path.join(out, "target_4x64.h5"), "w") as f:
        f["target"] = rng.normal(0, 1, (4, 64))


if __name__ == "__main__":
    main()
