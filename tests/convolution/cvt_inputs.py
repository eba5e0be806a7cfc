#!/usr/bin/python3
"""Input files of the convolutional-model tests (tests/convolution): a valid 2-stage convolutional controls file
(docs/controls-format.md, "Convolutional models") and copies that each break one rule.

  cvt_inputs.py OUTDIR

Valid: cvt.h5 (stage 0: 4 tokens of 8 × 6 pixels, 2 heads, 2 layers with token embedding, J = 1; stage 1: 8 tokens of
4 × 3 pixels, 3 heads, 1 layer; a /cvt classifier of a 3 × 16 × 12 image), image.h5, u0.h5 (stage 0's grid).
"""
import os
import sys

import h5py
import numpy as np

STAGES = [(4, 8, 6, 2, 2), (8, 4, 3, 3, 1)]  # N_x, N_y1, N_y2, N_h, layers
rng = np.random.default_rng(20260101)


def cvt(path, edit=None, stages=STAGES, image=True):
    """A valid file, then edit(file) breaks it."""
    with h5py.File(path, "w") as f:
        for s, (Nx, N1, N2, Nh, L) in enumerate(stages):
            g = f.create_group(f"stages/{s}")
            for name, v in zip(("N_x", "N_y1", "N_y2", "N_h"), (Nx, N1, N2, Nh)):
                g.attrs[name] = float(v)
            for n in range(L):
                l = g.create_group(f"layers/{n}")
                for name in ("conv_WQ", "conv_WK", "conv_WV"):
                    l[name] = rng.normal(0, 0.4, (Nh, 3, 3))
                l["embed_W"], l["embed_b"] = rng.normal(0, 0.4, (Nx, 3, 3)), rng.normal(0, 0.4, Nx)
                l["conv_W1"], l["b1"] = rng.normal(0, 0.4, (3, 3)), rng.normal(0, 0.4, Nx)
                l.attrs["sigma1"], l.attrs["sigma2"] = 0.1, 0.9
        if image:
            g = f.create_group("cvt")
            g["embedding_W"], g["embedding_b"] = rng.normal(0, 0.4, (stages[0][0], 3, 3, 3)), rng.normal(0, 0.4, stages[0][0])
            g["head_W"], g["head_b"] = rng.normal(0, 0.4, (stages[-1][0], 5)), rng.normal(0, 0.4, 5)
            for name, v in (("stride", 2), ("padding", 1), ("image_height", 16), ("image_width", 12)):
                g.attrs[name] = float(v)
        if edit:
            edit(f)


def replace(f, name, data):
    del f[name]
    f[name] = data


def with_nan(f, name):
    a = f[name][()]
    a.flat[4] = np.nan
    replace(f, name, a)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    cvt(p("cvt.h5"))
    with h5py.File(p("image.h5"), "w") as f:
        f["image"] = rng.normal(0, 1, (3, 16, 12))
    with h5py.File(p("u0.h5"), "w") as f:
        f["u0"] = rng.normal(0, 1, (4, 8, 6))
    cvt(p("cvt_even_stencil.h5"), lambda f: replace(f, "stages/0/layers/1/conv_WK", rng.normal(0, 1, (2, 4, 3))))
    cvt(p("cvt_zero_stencil.h5"), lambda f: replace(f, "stages/0/layers/0/conv_W1", np.zeros((0, 3))))
    cvt(p("cvt_oversized_stencil.h5"), lambda f: replace(f, "stages/1/layers/0/conv_WV", rng.normal(0, 1, (3, 5, 3))))
    cvt(p("cvt_embed_tokens.h5"), lambda f: replace(f, "stages/0/layers/0/embed_W", rng.normal(0, 1, (5, 3, 3))))
    cvt(p("cvt_heads.h5"), lambda f: replace(f, "stages/1/layers/0/conv_WQ", rng.normal(0, 1, (2, 3, 3))))
    cvt(p("cvt_transfer_pixels.h5"), stages=[(4, 8, 6, 2, 1), (8, 3, 3, 3, 1)], image=False)
    cvt(p("cvt_transfer_tokens.h5"), stages=[(4, 8, 6, 2, 1), (6, 4, 3, 3, 1)], image=False)
    cvt(p("cvt_nan.h5"), lambda f: with_nan(f, "stages/1/layers/0/conv_W1"))
    cvt(p("cvt_image_size.h5"), lambda f: f["cvt"].attrs.__setitem__("image_height", 18.0))
    cvt(p("cvt_head_unknown.h5"), lambda f: f["cvt"].attrs.__setitem__("head", "max_pool"))
    cvt(p("cvt_head_shape.h5"), lambda f: f["cvt"].attrs.__setitem__("head", "class_token"))  # head_W still (N_x, classes)


if __name__ == "__main__":
    main()
