#!/usr/bin/env python3
"""Input fixtures for the bad-input tests of tests/substeps: make_inputs.py OUTDIR writes paper.h5 (the paper's
kernels, N_y = 4, N_h = 2, J = 1) and rank.h5 (the same with rank-2 attention factors and W^O)."""
import os
import sys

import h5py
import numpy as np

NY, NH = 4, 2
rng = np.random.default_rng(4)


def write(path, d_head=NY):
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/0")
        for name in ("WQ", "WK", "WV"):
            g[name] = rng.normal(0, 0.3, (NH, NY, d_head))
        if d_head != NY:
            g["WO"] = rng.normal(0, 0.3, (NH, d_head, NY))
        g["W1"] = rng.normal(0, 0.3, (NY, NY))
        g["b1"] = rng.normal(0, 0.3, (NY,))
        g.attrs["sigma1"], g.attrs["sigma2"] = 0.0, 1.0


os.makedirs(sys.argv[1], exist_ok=True)
write(os.path.join(sys.argv[1], "paper.h5"))
write(os.path.join(sys.argv[1], "rank.h5"), d_head=2)
