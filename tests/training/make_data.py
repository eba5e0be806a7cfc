#!/usr/bin/python3
"""Fixtures of the training tests (tests/training): small datasets, good and bad.

    /usr/bin/python3 tests/training/make_data.py DIR
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from conv_transformer import build, randomise  # noqa: E402
from export_torch import export  # noqa: E402


def write(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f[name] = value


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    images = rng.uniform(0, 1, (16, 1, 8, 8))
    labels = rng.integers(0, 10, 16).astype(np.int64)
    write(f"{out}/good.h5", images=images, labels=labels)
    write(f"{out}/test_6x6.h5", images=rng.uniform(0, 1, (4, 1, 6, 6)), labels=labels[:4])
    bad = labels.copy()
    bad[3] = 10
    write(f"{out}/label_10.h5", images=images, labels=bad)
    bad[3] = labels[3] + 2**32  # would wrap onto labels[3] in a 32-bit PetscInt
    write(f"{out}/label_wraps.h5", images=images, labels=bad)
    nan = images.copy()
    nan[2, 0, 3, 4] = np.nan
    write(f"{out}/nan.h5", images=nan, labels=labels)
    write(f"{out}/empty.h5", images=np.zeros((0, 1, 8, 8)), labels=np.zeros(0, np.int64))
    write(f"{out}/no_labels.h5", images=images)
    write(f"{out}/many.h5", images=rng.uniform(0, 1, (300, 1, 8, 8)), labels=rng.integers(0, 10, 300).astype(np.int64))
    # The paper's layered controls (2 layers, N_y = 4, J = 1) and states to map onto targets (mse).
    with h5py.File(f"{out}/paper.h5", "w") as f:
        for n in range(2):
            g = f.create_group(f"layers/{n}")
            for name in ("WQ", "WK", "WV"):
                g[name] = rng.normal(0, 0.3, (1, 4, 4))
            g["W1"], g["b1"] = rng.normal(0, 0.3, (4, 4)), rng.normal(0, 0.1, 4)
            g.attrs["sigma1"], g.attrs["sigma2"] = 0.0, 1.0
    with h5py.File(f"{out}/paper.h5", "r") as f, h5py.File(f"{out}/paper_causal.h5", "w") as g:  # the same, causal
        for n in f["layers"]:
            f.copy(f[f"layers/{n}"], g, f"layers/{n}")
        g.attrs["causal"] = 1.0
    write(f"{out}/states.h5", inputs=rng.normal(0, 1, (12, 5, 4)), targets=rng.normal(0, 1, (12, 5, 4)))
    # The last sample's state overflows in the first step: with batches of 4, only the last rank's sample fails.
    huge = rng.normal(0, 1, (12, 5, 4))
    huge[11, 2] = [1e300, -1e300, 1e300, 3]
    write(f"{out}/states_one_overflows.h5", inputs=huge, targets=rng.normal(0, 1, (12, 5, 4)))
    write(f"{out}/float_labels.h5", images=images, labels=labels.astype(np.float64))
    # A convolutional Transformer (§6.2) for good.h5's images: 4 tokens of 8 × 8 pixels, then 8 of 4 × 4; 10 classes; the
    # head on token 0's image, and the same on the pixel means (which cannot be trained: its logits are constant).
    for head, name in (("class_token", "cvt"), ("pixel_mean", "cvt_pixel_mean")):
        model = build([(4, 8, 8, 2, 1), (8, 4, 4, 2, 1)], J=1, image=(1, 8, 8, 3, 1, 1), classes=10, head_kind=head)
        export(randomise(model, 11), f"{out}/{name}.h5", False)


if __name__ == "__main__":
    main()
