#!/usr/bin/python3
"""ctflow against PyTorch in the discrete limit, on the same weights and the same BLAS kernels, in the same run.

    /usr/bin/python3 bench/bench_vs_torch.py [--nx 128 512 2048] [--reps 3] [--continuum-nx 512] [--threads-nx 512 2048]

A random float64 nn.TransformerEncoder (post-LN, ReLU; defaults: 6 layers, d_model = 512, 8 heads,
dim_feedforward = 2048, batch_first, eval, no_grad: torch's fused path; --causal: GPT-style masked attention) is
exported with tools/export_torch.py and run by `build/ctflow` on one rank at Δt = 1. Timed: torch's forward call and
ctflow's PETSc log stage "Integrate" (from -log_view), medians over --reps runs, one thread on both sides.

Same kernels: ctflow's GEMMs run in BLIS, on the configuration it selects (operators/blas_kernels.hpp);
Debian's torch calls the system BLAS (OpenBLAS) through the symbol dgemm_. Unless --own-kernels is given,
the script asks build/ctflow_blas_rate which library and configuration ctflow runs on this machine and
re-executes itself with that library preloaded (LD_PRELOAD, so torch's dgemm_ is BLIS's) and the same
BLIS_ARCH_TYPE (and OPENBLAS_CORETYPE, when ctflow selects an OpenBLAS core). With --own-kernels torch runs
on OpenBLAS's own choice, as a user of Debian's torch gets.
It prints the CPU model, each side's kernels and single-thread DGEMM rate (ctflow's from ctflow_blas_rate,
torch's from torch.mm), then per N_x the times, the ratio, ctflow's rate as a share of its DGEMM rate, the
same for the event AttnScoreSoftmax, and the largest relative difference.

Continuum case (--continuum-nx): the same controls as a continuous-time model, Δt = 1/8 per layer, Strang
splitting (`-dt 0.125 -split strang`): eight steps per layer reuse the layer's kernels (Controls::PieceKey).
Threads (--threads-nx): ctflow on one rank with 2 BLAS threads and on 2 ranks with one thread each, torch
with 2 threads, against one thread.

GFLOP/s = the Integrate stage's flop count (PETSc's, from the operators' PetscLogFlops) / its time. Per
layer, with D = N_h d_head = d_model and F = dim_feedforward: attention projections 6 N_x N_y D (Q, K, V),
scores 2 N_x² D, γV 2 N_x² D, softmax 3 N_h N_x² (maximum, exponential, sum; one flop each; causal
models count only the N_x (N_x + 1)/2 query-key pairs η ≤ x), output projection 2 N_x D N_y; feed-forward
4 N_x N_y F; layer norms 5 N_x N_y each; Euler updates 2 N_x N_y per flow.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nx", type=int, nargs="+", default=[128, 512, 2048])
    p.add_argument("--continuum-nx", type=int, nargs="*", default=[512], help="N_x of the Δt = 1/8 Strang runs (none: skip)")
    p.add_argument("--threads-nx", type=int, nargs="*", default=[512, 2048], help="N_x of the 2-thread / 2-rank runs (none: skip)")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=2048)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--own-kernels", action="store_true", help="torch on its own BLAS (OpenBLAS, the library's choice of kernels)")
    p.add_argument("--causal", action="store_true", help="GPT-style causal attention (torch with the square subsequent mask)")
    p.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    p.add_argument("--blas-rate", default=None, help="the ctflow_blas_rate helper (default: beside --ctflow)")
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench"))
    args = p.parse_args()
    args.ctflow = os.path.abspath(args.ctflow)
    args.blas_rate = os.path.abspath(args.blas_rate or os.path.join(os.path.dirname(args.ctflow), "ctflow_blas_rate"))
    return args


def environment(threads=1):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), BLIS_NUM_THREADS=str(threads))
    env.pop("LD_PRELOAD", None)  # ctflow links its BLAS and selects its kernels itself
    if env.pop("BENCH_VS_TORCH_SET_ARCH", None):
        env.pop("BLIS_ARCH_TYPE", None)
    if env.pop("BENCH_VS_TORCH_SET_CORE", None):
        env.pop("OPENBLAS_CORETYPE", None)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def ctflow_kernels(blas_rate):
    """What ctflow_blas_rate prints: kernels, library, BLIS_ARCH_TYPE, blas (ctflow's description), dgemm."""
    out = subprocess.run([blas_rate], capture_output=True, text=True, check=True, env=environment()).stdout
    return dict(line.split(": ", 1) for line in out.splitlines())


def cpu_model():
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
    return m.group(1) if m else "unknown"


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def log_view(stdout):
    """The Integrate stage's time and flops, and the AttnScoreSoftmax event's, from -log_view on one rank."""
    stage = re.search(r"^\s*\d+:\s+Integrate:\s+(\S+)\s+\S+%\s+(\S+)", stdout, re.M)
    event = re.search(r"^AttnScoreSoftmax\s+\d+\s+\S+\s+(\S+)\s+\S+\s+(\S+)", stdout, re.M)
    return float(stage.group(1)), float(stage.group(2)), float(event.group(1)), float(event.group(2))


def run_ctflow(args, options, np_=1, threads=1):
    cmd = [args.ctflow, "-controls", "controls.h5", "-u0", "u0.h5", "-log_view"] + options
    if np_ > 1:
        cmd = [shutil.which(args.mpiexec) or args.mpiexec] + (["--oversubscribe"] if np_ > (os.cpu_count() or 1) else []) + ["-n", str(np_)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, env=environment(threads))
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return log_view(out.stdout)


def median_run(args, options, **kw):
    runs = [run_ctflow(args, options, **kw) for _ in range(args.reps)]
    t = statistics.median(r[0] for r in runs)
    return t, runs[0][1], statistics.median(r[2] for r in runs), runs[0][3]


def same_kernels(args):
    """ctflow's BLAS: unless --own-kernels, this script is run again (before torch loads its BLAS) with ctflow's
    library preloaded and its configuration, so that torch's dgemm_ is the same code; one thread per side."""
    ctflow_blas = ctflow_kernels(args.blas_rate)
    if not args.own_kernels and os.environ.get("LD_PRELOAD") != ctflow_blas["library"]:
        os.environ["LD_PRELOAD"] = ctflow_blas["library"]
        if ctflow_blas["BLIS_ARCH_TYPE"] != "unset" and "BLIS_ARCH_TYPE" not in os.environ:
            os.environ.update(BLIS_ARCH_TYPE=ctflow_blas["BLIS_ARCH_TYPE"], BENCH_VS_TORCH_SET_ARCH="1")
        # OpenBLAS (torch's LAPACK and ctflow's small GEMMs) on the core ctflow selected, if it selected one.
        core = ctflow_blas.get("OPENBLAS_CORETYPE", "unset")
        if core != "unset" and not os.environ.get("OPENBLAS_CORETYPE"):
            os.environ.update(OPENBLAS_CORETYPE=core, BENCH_VS_TORCH_SET_CORE="1")
        os.execv(sys.executable, [sys.executable] + sys.argv)
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    return ctflow_blas


def export_random_encoder(args):
    """The float64 nn.TransformerEncoder of args' shape with seeded random weights, saved to model.pt and exported to
    controls.h5 in the working directory."""
    import numpy as np
    import torch
    from torch import nn

    layer = nn.TransformerEncoderLayer(args.d_model, args.heads, args.ffn, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, args.layers, enable_nested_tensor=False).double()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(torch.randn(prm.shape, generator=g, dtype=prm.dtype) / np.sqrt(prm.shape[-1]))
    torch.save(model, "model.pt")
    causal = ["--causal"] if args.causal else []
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_torch.py"), *causal, "model.pt", "controls.h5"], check=True)
    return model


def attention_mask(args, nx):
    """torch's attention mask for the exported model: None, or with --causal η ≤ x only, as an additive mask (torch 1.13
    still forms every score)."""
    import torch

    return torch.nn.Transformer.generate_square_subsequent_mask(nx).double() if args.causal else None


def main():
    args = parse_args()
    ctflow_blas = same_kernels(args)
    import ctypes

    import h5py
    import numpy as np
    import torch

    if args.own_kernels:
        blas = ctypes.CDLL("libopenblas.so.0")  # the instance torch loaded
        blas.openblas_get_corename.restype = ctypes.c_char_p
        torch_kernels = f"OpenBLAS kernels {blas.openblas_get_corename().decode()}"

        def blas_threads(n):
            blas.openblas_set_num_threads(n)
    else:
        blas = ctypes.CDLL(ctflow_blas["library"])  # preloaded: torch's dgemm_
        blas.bli_arch_string.restype = ctypes.c_char_p
        torch_kernels = f"{ctflow_blas['library']} preloaded, kernels {blas.bli_arch_string(blas.bli_arch_query_id()).decode()}"

        def blas_threads(n):
            blas.bli_thread_set_num_threads(ctypes.c_long(n))
    torch.set_num_threads(1)
    blas_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)

    encoder = export_random_encoder(args).eval()

    def model(x):
        return encoder(x, mask=attention_mask(args, x.shape[1]))

    def torch_dgemm(n=1024):
        a, b = torch.rand(n, n, dtype=torch.float64), torch.rand(n, n, dtype=torch.float64)
        return 2 * n**3 / min(timed(lambda: torch.mm(a, b)) for _ in range(5)) / 1e9

    gemm = float(ctflow_blas["dgemm"].split()[0])
    print(f"CPU: {cpu_model()}")
    print(f"ctflow BLAS: {ctflow_blas['blas']}; DGEMM {gemm:.1f} GFLOP/s (one thread, n = 1024)")
    print(f"torch {torch.__version__} BLAS: {torch_kernels}; DGEMM {torch_dgemm():.1f} GFLOP/s (torch.mm, one thread)")
    print(f"ctflow, in {os.getcwd()}: {args.ctflow} -controls controls.h5 -u0 u0.h5 -traj none|out.h5 -log_view")
    print()
    print("| N_x | torch forward [s] | ctflow Integrate [s] | ctflow / torch | ctflow GFLOP/s | % of DGEMM | AttnScoreSoftmax GFLOP/s (% of DGEMM) | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")

    def write_u0(nx):
        x = torch.randn(1, nx, args.d_model, generator=torch.Generator().manual_seed(nx), dtype=torch.float64)
        with h5py.File("u0.h5", "w") as f:
            f["u0"] = x[0].numpy()
        return x

    def forward_time(x):
        with torch.no_grad():
            model(x)  # warm-up
            return statistics.median(timed(lambda: model(x)) for _ in range(args.reps))

    for nx in args.nx:
        x = write_u0(nx)
        with torch.no_grad():
            ref = model(x)[0].numpy()
        t_torch = forward_time(x)
        t_ctflow, flops, t_attn, attn_flops = median_run(args, ["-traj", "none"])
        run_ctflow(args, ["-traj", "out.h5", "-traj_every", "1000"])
        with h5py.File("out.h5") as f:
            u = f["u"][sorted(f["u"])[-1]][...]
        diff = np.abs(u - ref).max() / np.abs(ref).max()
        rate, attn = flops / t_ctflow / 1e9, attn_flops / t_attn / 1e9
        print(f"| {nx} | {t_torch:.3f} | {t_ctflow:.3f} | {t_ctflow / t_torch:.2f} | {rate:.1f} | {100 * rate / gemm:.0f}% | {attn:.1f} ({100 * attn / gemm:.0f}%) | {diff:.1e} |")
        if not diff <= 1e-12:
            sys.exit(f"outputs differ: {diff:.2e}")

    if args.continuum_nx:
        print()
        print(f"Continuum: the same controls, Δt = 1/8 per layer ({8 * args.layers} steps), Strang splitting (-dt 0.125 -split strang -traj none)")
        print()
        print("| N_x | ctflow Integrate [s] | per layer [s] | GFLOP/s | % of DGEMM |")
        print("|---|---|---|---|---|")
        for nx in args.continuum_nx:
            write_u0(nx)
            t, flops, _, _ = median_run(args, ["-dt", "0.125", "-split", "strang", "-traj", "none"])
            print(f"| {nx} | {t:.3f} | {t / args.layers:.3f} | {flops / t / 1e9:.1f} | {100 * flops / t / 1e9 / gemm:.0f}% |")

    if args.threads_nx:
        print()
        print("Two cores: ctflow on 1 rank × 2 BLAS threads and on 2 ranks × 1 thread; torch with 2 threads (Integrate stage / forward, s)")
        print()
        print("| N_x | ctflow 1 × 1 | ctflow 1 rank × 2 threads | ctflow 2 ranks × 1 thread | torch 1 thread | torch 2 threads |")
        print("|---|---|---|---|---|---|")
        for nx in args.threads_nx:
            x = write_u0(nx)
            one = median_run(args, ["-traj", "none"])[0]
            threads = median_run(args, ["-traj", "none"], threads=2)[0]
            ranks = median_run(args, ["-traj", "none"], np_=2)[0]
            t1 = forward_time(x)
            torch.set_num_threads(2)
            blas_threads(2)
            t2 = forward_time(x)
            torch.set_num_threads(1)
            blas_threads(1)
            print(f"| {nx} | {one:.3f} | {threads:.3f} ({one / threads:.2f}×) | {ranks:.3f} ({one / ranks:.2f}×) | {t1:.3f} | {t2:.3f} ({t1 / t2:.2f}×) |")


if __name__ == "__main__":
    main()
