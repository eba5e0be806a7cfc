#!/usr/bin/python3
"""ctflow against PyTorch in the discrete limit, on the same weights, in the same run.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 bench/bench_vs_torch.py [--nx 128 512 2048] [--reps 3]

A random float64 nn.TransformerEncoder (post-LN, ReLU; defaults: 6 layers, d_model = 512, 8 heads,
dim_feedforward = 2048, batch_first, eval, no_grad: torch's fused path) is exported with
tools/export_torch.py and run by `build/ctflow` on one rank at Δt = 1. Timed: torch's forward call and
ctflow's PETSc log stage "Integrate" (from -log_view), medians over --reps runs; both on one thread
(torch.set_num_threads(1) does not reach OpenBLAS, hence the environment variables, which this script
also sets for its children). The outputs are compared, the single-thread DGEMM rate is measured with
numpy (OpenBLAS), and a Markdown table with the ratios is printed.

GFLOP/s = the Integrate stage's flop count (PETSc's, from the operators' PetscLogFlops) / its time. Per
layer, with D = N_h d_head = d_model and F = dim_feedforward: attention projections 6 N_x N_y D (Q, K, V),
scores 2 N_x² D, γV 2 N_x² D, softmax 3 N_h N_x² (maximum, exponential, sum; one flop each; causal
models count only the N_x (N_x + 1)/2 query-key pairs η ≤ x), output
projection 2 N_x D N_y; feed-forward 4 N_x N_y F; layer norms 5 N_x N_y each; Euler updates 2 N_x N_y per
flow. -log_view splits the time into AttnProjections, AttnScoreSoftmax, AttnOutput, LiftedFeedForward and
LayerNorm events.
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
from torch import nn  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def dgemm_rate(n=1024, reps=3):
    a, b = np.random.rand(n, n), np.random.rand(n, n)
    best = min(timed(lambda: a @ b) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nx", type=int, nargs="+", default=[128, 512, 2048])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=2048)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench"))
    args = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)

    layer = nn.TransformerEncoderLayer(args.d_model, args.heads, args.ffn, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, args.layers, enable_nested_tensor=False).double().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(torch.randn(prm.shape, generator=g, dtype=prm.dtype) / np.sqrt(prm.shape[-1]))
    torch.save(model, "model.pt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_torch.py"), "model.pt", "controls.h5"], check=True)

    gemm = dgemm_rate()
    command = [args.ctflow, "-controls", "controls.h5", "-u0", "u0.h5", "-traj", "out.h5", "-traj_every", "1000", "-log_view"]
    print(f"single-thread DGEMM (OpenBLAS via numpy): {gemm:.1f} GFLOP/s")
    print(f"ctflow, in {os.getcwd()}: {' '.join(command)}")
    print("| N_x | torch forward [s] | ctflow Integrate [s] | ctflow / torch | ctflow GFLOP/s | % of DGEMM | max rel. diff |")
    print("|---|---|---|---|---|---|---|")
    for nx in args.nx:
        x = torch.randn(1, nx, args.d_model, generator=g, dtype=torch.float64)
        with h5py.File("u0.h5", "w") as f:
            f["u0"] = x[0].numpy()
        with torch.no_grad():
            ref = model(x)
            t_torch = statistics.median(timed(lambda: model(x)) for _ in range(args.reps))
        ref = ref[0].numpy()
        times, flops = [], 0.0
        for _ in range(args.reps):
            run = subprocess.run(command, capture_output=True, text=True, check=True)
            m = re.search(r"^\s*\d+:\s+Integrate:\s+(\S+)\s+\S+%\s+(\S+)", run.stdout, re.M)
            times.append(float(m.group(1)))
            flops = float(m.group(2))
        t_ctflow = statistics.median(times)
        with h5py.File("out.h5") as f:
            u = f["u"][sorted(f["u"])[-1]][...]
        diff = np.abs(u - ref).max() / np.abs(ref).max()
        rate = flops / t_ctflow / 1e9
        print(f"| {nx} | {t_torch:.3f} | {t_ctflow:.3f} | {t_ctflow / t_torch:.2f} | {rate:.1f} | {100 * rate / gemm:.0f}% | {diff:.1e} |")
        if not diff <= 1e-12:
            sys.exit(f"outputs differ: {diff:.2e}")


if __name__ == "__main__":
    main()
