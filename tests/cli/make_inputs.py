#!/usr/bin/env python3
"""Input fixtures for the end-to-end tests of ctflow (tests/cli): valid and deliberately broken HDF5 files.

Usage: make_inputs.py OUTDIR.  Valid files: controls.h5 (N_y = 8, N_h = 2, 2 layers, J = 2), u0.h5 (N_x = 6,
N_y = 8), u0_const_token.h5 (token 2 constant).  Every other file breaks exactly one rule of the input formats.
"""
import os
import sys

import h5py
import numpy as np

NX, NY, NH, LAYERS, J = 6, 8, 2, 2, 2
rng = np.random.default_rng(20250101)


def controls(path, edit=None):
    """Write a valid layered-controls file, then let edit(file) break it."""
    with h5py.File(path, "w") as f:
        for n in range(LAYERS):
            g = f.create_group(f"layers/{n}")
            for name in ("WQ", "WK", "WV"):
                g[name] = rng.normal(0, 0.3, (NH, NY, NY))
            for j in range(1, J + 1):
                g[f"W{j}"] = rng.normal(0, 0.3, (NY, NY))
                g[f"b{j}"] = rng.normal(0, 0.3, (NY,))
            g.attrs["sigma1"] = 0.0
            g.attrs["sigma2"] = 1.0
        if edit:
            edit(f)


def replace(f, name, data):
    del f[name]
    f[name] = data


def with_value(f, name, index, value):
    a = f[name][()]
    a[index] = value
    replace(f, name, a)


def u0(path, data, name="u0"):
    with h5py.File(path, "w") as f:
        f[name] = data


def no_layer0(f):
    f.move("layers/1", "layers/2")
    f.move("layers/0", "layers/1")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)

    controls(p("controls.h5"))
    controls(p("ctl_missing_WK.h5"), lambda f: f.__delitem__("layers/1/WK"))
    controls(p("ctl_wrong_shape.h5"), lambda f: replace(f, "layers/0/WQ", rng.normal(0, 0.3, (NH, NY, NY + 1))))
    controls(p("ctl_int32.h5"), lambda f: replace(f, "layers/0/WV", np.ones((NH, NY, NY), dtype=np.int32)))
    controls(p("ctl_nan_weight.h5"), lambda f: with_value(f, "layers/1/W2", (3, 4), np.nan))
    controls(p("ctl_inf_bias.h5"), lambda f: with_value(f, "layers/0/b1", 5, np.inf))
    controls(p("ctl_sigma2_zero.h5"), lambda f: f["layers/1"].attrs.__setitem__("sigma2", 0.0))
    controls(p("ctl_no_layer0.h5"), no_layer0)
    with open(p("not_hdf5.h5"), "w") as f:
        f.write("this is a text file, not HDF5\n")

    u = rng.normal(0, 1, (NX, NY))
    u0(p("u0.h5"), u)
    u0(p("u0_no_dataset.h5"), u, name="state")
    u0(p("u0_4d.h5"), u.reshape(NX, NY, 1, 1))
    u0(p("u0_float32.h5"), u.astype(np.float32))
    u0(p("u0_nan.h5"), np.where(np.arange(NX * NY).reshape(NX, NY) == 13, np.nan, u))
    u0(p("u0_inf.h5"), np.where(np.arange(NX * NY).reshape(NX, NY) == 29, -np.inf, u))
    u0(p("u0_ny10.h5"), rng.normal(0, 1, (NX, NY + 2)))
    c = u.copy()
    c[2, :] = 0.75
    u0(p("u0_const_token.h5"), c)
    controls(p("ctl_order_overflow.h5"), lambda f: f.attrs.__setitem__("order", "attention, ffn99999999999999999999"))


if __name__ == "__main__":
    main()
