#!/usr/bin/python3
"""Measures how far each literal choice of the paper is from PyTorch: a random post-LN ReLU encoder layer
(examples/torch_models.py's `encoder_layer` case) is exported exactly, then one generalisation at a time is
replaced by the paper's literal choice in the controls file, and ctflow's output is compared with torch's.

    /usr/bin/python3 tools/paper_vs_torch.py [--ctflow build/ctflow] [--workdir build/paper_vs_torch]

Prints a Markdown table (used in docs/torch-mapping.md).
"""
import argparse
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def literal(f, choice, Nx):
    """Edit the exported controls file f (for N_x tokens) into the paper's literal choice."""
    for g in f["layers"].values():
        E = g["WQ"].shape[1]
        if choice in ("scale", "all"):
            g.attrs["attention_scale"] = 1.0                       # eq. (29): no scale
        if choice == "scale_lx":
            g.attrs["attention_scale"] = 1 / np.sqrt(Nx)   # eq. (41): 1/sqrt(L_x), L_x = N_x
        if choice == "scale_ly":
            g.attrs["attention_scale"] = 1 / np.sqrt(E)             # eq. (37): 1/sqrt(|Ω_y|), L_y = N_y
        if choice in ("biases", "all"):
            del g["bQ"], g["c"]                                     # linear Q, K, V; no output bias
        for k in (1, 2):
            if choice in ("eps", "all"):
                g.attrs[f"layernorm{k}_eps"] = 0.0                  # the exact projection, ε = 0
            if choice in ("affine", "all"):
                g[f"layernorm{k}_gamma"][...] = 1.0                 # scalar σ1 = 0, σ2 = 1
                g[f"layernorm{k}_beta"][...] = 0.0


CHOICES = [
    ("none (every generalisation)", "exact"),
    ("scale: none, eq. (29)", "scale"),
    ("scale 1/sqrt(L_x), eq. (41) as printed", "scale_lx"),
    ("scale 1/sqrt(\\|Ω_y\\|) = 1/sqrt(N_y), eq. (37)", "scale_ly"),
    ("Q, K, V linear, no biases", "biases"),
    ("layer norm with ε = 0", "eps"),
    ("scalar σ1 = 0, σ2 = 1 (γ = 1, β = 0)", "affine"),
    ("skip = average, eq. (16)", "skip"),
    ("skip = average of branches at rate factor 2 (parallel splitting, eq. (59))", "skip_rate2"),
    ("all of the above except the scale choices of (37)/(41)", "all"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "build", "paper_vs_torch"))
    args = parser.parse_args()
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "torch_models.py"), "encoder_layer", "--np", "1",
                    "--ctflow", args.ctflow, "--mpiexec", args.mpiexec, "--workdir", args.workdir],
                   check=True, stdout=subprocess.DEVNULL)
    os.chdir(args.workdir)
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from torch_models import encoder_case
    _, _, _, reference = encoder_case("encoder_layer")
    print("| paper's literal choice | relative max-norm distance from torch after one layer |\n|---|---|")
    for label, choice in CHOICES:
        shutil.copy("controls.h5", "literal.h5")
        with h5py.File("literal.h5", "a") as f:
            if choice != "exact":
                literal(f, choice, reference.shape[0])
        # eq. (16): the skip is the average of the feed-forward branch and the identity
        # (the branch u + Δt F averaged with u is u + F/2; at rate factor 2, eq. (59), it is u + F again)
        skip = ["-split_tree", "seq(attention, layernorm1, avg(mlp, identity), layernorm2)"] if choice in ("skip", "all") else []
        if choice == "skip_rate2":
            skip = ["-split_tree", "seq(attention, layernorm1, avg(mlp*2, identity), layernorm2)"]
        subprocess.run(args.mpiexec.split() + ["-n", "1", os.path.abspath(args.ctflow), "-controls", "literal.h5", "-u0", "u0.h5",
                        "-traj", "literal_out.h5"] + skip, check=True, stdout=subprocess.DEVNULL)
        with h5py.File("literal_out.h5") as f:
            u = f["u"][sorted(f["u"])[-1]][...]
        print(f"| {label} | {np.abs(u - reference).max() / np.abs(reference).max():.2e} |")


if __name__ == "__main__":
    main()
