#!/usr/bin/python3
"""ctflow's convolution Transformer (paper §6) against its float64 PyTorch reference, on the same weights, in the same run.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 bench/bench_cvt_vs_torch.py [--pixels 64] [--tokens 32] [--reps 5]

A one-stage CvT block (examples/conv_transformer.py: the §6.2 scheme with the token embedding, 3 × 3 stencils for the
embedding, Q, K, V and J = 2 convolutional feed-forward layers, 2 heads) on 32 tokens of 64 × 64 pixels, every parameter
random, is exported with tools/export_torch.py and run by `build/ctflow` on one rank at Δt = 1. Timed: torch's forward
call (torch.set_num_threads(1), no_grad) and ctflow's PETSc log stage "Integrate" (from -log_view), medians over --reps
runs, one thread on both sides (the OpenBLAS variables also for the children). The outputs are compared and a Markdown
row with the ratio is printed; -log_view's ConvEmbedding, ConvAttention (ConvAttnConvolve), ConvFeedForward and
LayerNorm events split ctflow's time.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "examples"))
import conv_transformer  # noqa: E402


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pixels", type=int, default=64)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench_cvt"))
    args = p.parse_args()
    ctflow = os.path.abspath(args.ctflow)
    torch.set_num_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)

    N, Nx = args.pixels, args.tokens
    model = conv_transformer.randomise(conv_transformer.build([(Nx, N, N, args.heads, args.layers)], J=2, k=3, k_ffn=3, k_embed=3), seed=5)
    x = torch.randn(Nx, N, N, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    with h5py.File("u0.h5", "w") as f:
        f["u0"] = x.numpy()
    torch.save(model, "model.pt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_torch.py"), "model.pt", "controls.h5"], check=True)
    with torch.no_grad():
        reference = model(x).numpy()
        t_torch = statistics.median(timed(lambda: model(x)) for _ in range(args.reps))

    command = [ctflow, "-controls", "controls.h5", "-u0", "u0.h5", "-traj", "out.h5", "-traj_every", "1000", "-log_view"]
    times, events = [], ""
    for _ in range(args.reps):
        run = subprocess.run(command, capture_output=True, text=True, check=True)
        times.append(float(re.search(r"^\s*\d+:\s+Integrate:\s+(\S+)", run.stdout, re.M).group(1)))
        events = "\n".join(l for l in run.stdout.splitlines() if re.match(r"(Conv\w+|LayerNorm)\s", l))
    t_ctflow = statistics.median(times)
    with h5py.File("out.h5") as f:
        u = f["u"][sorted(f["u"])[-1]][...]
    diff = np.abs(u - reference).max() / np.abs(reference).max()
    print(f"ctflow, in {os.getcwd()}: {' '.join(command)}")
    print("last run's events (-log_view, stage Integrate):\n" + events)
    print("| N_x | pixels | heads | layers | torch forward [s] | ctflow Integrate [s] | ctflow / torch | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {Nx} | {N} x {N} | {args.heads} | {args.layers} | {t_torch:.4f} | {t_ctflow:.4f} | {t_ctflow / t_torch:.2f} | {diff:.1e} |")
    if not diff <= 1e-12:
        sys.exit(f"outputs differ: {diff:.2e}")


if __name__ == "__main__":
    main()
