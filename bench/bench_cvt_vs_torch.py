#!/usr/bin/python3
"""ctflow's convolution Transformer (paper §6) against its float64 PyTorch reference, on the same weights, in the same run.

    /usr/bin/python3 bench/bench_cvt_vs_torch.py [--pixels 64] [--tokens 32] [--reps 5] [--own-kernels]

A one-stage CvT block (examples/conv_transformer.py: the §6.2 scheme with the token embedding, 3 × 3 stencils for the
embedding, Q, K, V and J = 2 convolutional feed-forward layers, 2 heads) on 32 tokens of 64 × 64 pixels, every parameter
random, is exported with tools/export_torch.py and run by `build/ctflow` on one rank at Δt = 1. Timed: torch's forward
call (torch.set_num_threads(1), no_grad) and ctflow's PETSc log stage "Integrate" (from -log_view), medians over --reps
runs, one thread on both sides, torch on ctflow's BLAS and kernels (bench_vs_torch.same_kernels) unless --own-kernels. The outputs are compared and a Markdown
row with the ratio is printed; -log_view's ConvEmbedding, ConvAttention (ConvAttnConvolve), ConvFeedForward and
LayerNorm events split ctflow's time.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))
import bench_vs_torch as bvt  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pixels", type=int, default=64)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--own-kernels", action="store_true", help="torch on its own BLAS (OpenBLAS, the library's choice of kernels)")
    p.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    p.add_argument("--blas-rate", default=None, help="the ctflow_blas_rate helper (default: beside --ctflow)")
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench_cvt"))
    args = p.parse_args()
    ctflow = args.ctflow = os.path.abspath(args.ctflow)
    args.blas_rate = os.path.abspath(args.blas_rate or os.path.join(os.path.dirname(ctflow), "ctflow_blas_rate"))
    ctflow_blas = bvt.same_kernels(args)  # may run this script again, before torch loads its BLAS
    import conv_transformer
    import h5py
    import numpy as np
    import torch

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
        t_torch = statistics.median(bvt.timed(lambda: model(x)) for _ in range(args.reps))

    command = [ctflow, "-controls", "controls.h5", "-u0", "u0.h5", "-traj", "out.h5", "-traj_every", "1000", "-log_view"]
    times, events = [], ""
    for _ in range(args.reps):
        run = subprocess.run(command, capture_output=True, text=True, check=True, env=bvt.environment())
        times.append(float(re.search(r"^\s*\d+:\s+Integrate:\s+(\S+)", run.stdout, re.M).group(1)))
        events = "\n".join(l for l in run.stdout.splitlines() if re.match(r"(Conv\w+|LayerNorm)\s", l))
    t_ctflow = statistics.median(times)
    with h5py.File("out.h5") as f:
        u = f["u"][sorted(f["u"])[-1]][...]
    diff = np.abs(u - reference).max() / np.abs(reference).max()
    print(f"CPU: {bvt.cpu_model()}")
    print(f"ctflow BLAS: {ctflow_blas['blas']}; torch on {'its own OpenBLAS' if args.own_kernels else 'the same library, preloaded'}")
    print(f"ctflow, in {os.getcwd()}: {' '.join(command)}")
    print("last run's events (-log_view, stage Integrate):\n" + events)
    print("| N_x | pixels | heads | layers | torch forward [s] | ctflow Integrate [s] | ctflow / torch | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {Nx} | {N} x {N} | {args.heads} | {args.layers} | {t_torch:.4f} | {t_ctflow:.4f} | {t_ctflow / t_torch:.2f} | {diff:.1e} |")
    if not diff <= 1e-12:
        sys.exit(f"outputs differ: {diff:.2e}")


if __name__ == "__main__":
    main()
