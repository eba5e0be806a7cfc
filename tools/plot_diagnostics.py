#!/usr/bin/python3
"""Plot the per-state diagnostics of a ctflow trajectory (/diagnostics/* against /time) to a PNG.

  /usr/bin/python3 tools/plot_diagnostics.py run.h5 [-o run_diagnostics.png]

One panel per diagnostic (l2_norm, max_abs, mean, variance, and attention_entropy when the scheme has attention, with
its upper bound log L_x, the entropy of uniform attention; docs/trajectory-format.md). Only the complete states are
plotted (as many as /time has entries), so the file of a running or interrupted run can be plotted too.
"""
import argparse
import os

import h5py
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trajectory", help="ctflow trajectory file (HDF5)")
    p.add_argument("-o", "--output", help="PNG to write (default: <trajectory>_diagnostics.png)")
    args = p.parse_args()
    output = args.output or os.path.splitext(args.trajectory)[0] + "_diagnostics.png"
    with h5py.File(args.trajectory, "r") as f:
        if "diagnostics" not in f or "time" not in f:
            p.error(f"{args.trajectory} is not a ctflow trajectory with diagnostics")
        names = sorted(f["diagnostics"])
        n = min([len(f["time"])] + [len(f["diagnostics"][name]) for name in names])
        t = f["time"][:n]
        series = {name: f["diagnostics"][name][:n] for name in names}
        status = f.attrs.get("status", b"?").decode()
        Lx = float(f.attrs["L_x"]) if "L_x" in f.attrs else None
    fig, axes = plt.subplots(len(names), 1, sharex=True, figsize=(6, 1.8 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        ax.plot(t, series[name], marker="." if n < 50 else None)
        if name == "attention_entropy" and Lx:
            ax.axhline(np.log(Lx), color="gray", linestyle="--", linewidth=0.8, label="log L_x (uniform)")
            ax.legend(loc="best", fontsize="small")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("t")
    fig.suptitle(f"{os.path.basename(args.trajectory)}: {n} states ({status})")
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
