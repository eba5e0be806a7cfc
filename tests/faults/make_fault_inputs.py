#!/usr/bin/env python3
"""Inputs of the fault-injection tests (tests/faults): HDF5 files that declare far more than they hold.

Usage: make_fault_inputs.py OUTDIR.  u0_huge.h5: /u0 declared (2^32 + 8, 4), chunked and never written (a few kB);
ctl_bias_huge.h5: valid layered controls (N_y = 8) whose b1 of layer 0 is declared (2^32 + 8, 8); vit_channels.h5:
ViT controls whose attribute channels is 3.9.
"""
import os
import sys

import h5py
import numpy as np

HUGE = 2**32 + 8
rng = np.random.default_rng(20250102)


def layer(g, ny=8, nh=2):
    for name in ("WQ", "WK", "WV"):
        g[name] = rng.normal(0, 0.3, (nh, ny, ny))
    for j in (1, 2):
        g[f"W{j}"] = rng.normal(0, 0.3, (ny, ny))
        g[f"b{j}"] = rng.normal(0, 0.3, (ny,))
    g.attrs["sigma1"], g.attrs["sigma2"] = 0.0, 1.0


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with h5py.File(os.path.join(out, "u0_huge.h5"), "w") as f:
        f.create_dataset("u0", shape=(HUGE, 4), dtype="f8", chunks=(1024, 4))
    with h5py.File(os.path.join(out, "ctl_bias_huge.h5"), "w") as f:
        layer(f.create_group("layers/0"))
        del f["layers/0/b1"]
        f["layers/0"].create_dataset("b1", shape=(HUGE, 8), dtype="f8", chunks=(1024, 8))
    with h5py.File(os.path.join(out, "vit_channels.h5"), "w") as f:
        layer(f.create_group("layers/0"))
        v = f.create_group("vit")
        for name, value in (("channels", 3.9), ("image_height", 4.0), ("image_width", 4.0), ("patch_size", 2.0)):
            v.attrs[name] = value
    rng = np.random.default_rng(0)
    with h5py.File(os.path.join(out, "target_32x16.h5"), "w") as f:  # the default grid's final state
        f["target"] = rng.normal(size=(32, 16))
    with h5py.File(os.path.join(out, "regression_data.h5"), "w") as f:  # 4 samples for tests/cli controls.h5 (N_y = 8)
        f["inputs"] = rng.normal(size=(4, 32, 8))
        f["targets"] = rng.normal(size=(4, 32, 8))


if __name__ == "__main__":
    main()
