#!/usr/bin/python3
"""Input files of the continuum bad-input tests: make_inputs.py DIR writes DIR/ctl_relaxation_rate_zero.h5, a layered
controls file (docs/controls-format.md) whose layer 1 has relaxation_rate = 0."""
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)
with h5py.File(os.path.join(out, "ctl_relaxation_rate_zero.h5"), "w") as f:
    for n, rate in enumerate((1.0, 0.0)):
        g = f.create_group(f"layers/{n}")
        for k in ("WQ", "WK", "WV"):
            g[k] = rng.standard_normal((1, 4, 4))
        g.attrs["sigma1"], g.attrs["sigma2"], g.attrs["relaxation_rate"] = 0.0, 1.0, rate
