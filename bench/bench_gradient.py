#!/usr/bin/python3
"""The gradient's cost: ctflow's forward + discrete adjoint against its forward, and against torch's forward + backward,
on the same weights and the same BLAS kernels, in the same run.

    /usr/bin/python3 bench/bench_gradient.py [--nx 512 2048] [--reps 3]

The model of bench/bench_vs_torch.py (a random float64 nn.TransformerEncoder: post-LN, ReLU, 6 layers, d_model = 512,
8 heads, dim_feedforward = 2048; --causal: GPT-style masked attention), exported with tools/export_torch.py, loss
½‖u(T) − v‖² against a random target.
ctflow runs on one rank at Δt = 1 with `-loss mse -target v.h5 -gradient g.h5 -log_view -memory_view`; timed are the
PETSc log stages Integrate (the forward, recording what the adjoint needs) and Adjoint (loss, transposes, summation),
against the Integrate stage of a plain forward run (no loss, nothing recorded), medians over --reps runs; each
repetition runs the forward, the gradient and the warm gradient (below) back to back, and the ratios are the medians of
the repetitions' own ratios, since the host's speed drifts between repetitions. torch:
the forward with autograd recording plus loss.backward() (every parameter and the input requiring gradients), and
the forward alone under no_grad. Torch runs on ctflow's BLAS and kernels (bench_vs_torch.same_kernels). Reported:
(forward + gradient) / forward for both, ctflow / torch for forward + gradient, ctflow's peak memory (PETSc's
-memory_view, the rank's maximum resident size) of the plain forward, with every step's state kept and with
-adjoint_checkpoints 2, and the
largest relative difference between the two gradients (every parameter, mapped by tools/gradient_to_torch.py).

Cold and warm: one `ctflow -gradient` run is a fresh process, so its forward + gradient includes the first touch of
every page it stores (the tape, the gradient arrays: ~0.4 s of kernel time at N_x = 512 on these VMs), while torch's
figure is the median of repeated calls in one warm process. Training evaluates the gradient repeatedly in one
process, so the warm figure is measured too: `ctflow -train` on the same model with one sample (the input and target
above, plain SGD) for 1 and for --warm-epochs epochs; the Integrate + Adjoint stage times differ by that many − 1
warm evaluations.
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
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench_vs_torch as bvt  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nx", type=int, nargs="+", default=[512, 2048])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=2048)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warm-epochs", type=int, default=4, help="gradient evaluations of the warm measurement (at least 2)")
    p.add_argument("--own-kernels", action="store_true", help="torch on its own BLAS (OpenBLAS, the library's choice of kernels)")
    p.add_argument("--causal", action="store_true", help="GPT-style causal attention (torch with the square subsequent mask)")
    p.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    p.add_argument("--blas-rate", default=None, help="the ctflow_blas_rate helper (default: beside --ctflow)")
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench_gradient"))
    args = p.parse_args()
    args.ctflow = os.path.abspath(args.ctflow)
    args.blas_rate = os.path.abspath(args.blas_rate or os.path.join(os.path.dirname(args.ctflow), "ctflow_blas_rate"))
    return args


def stages(stdout):
    """Integrate and Adjoint (0 if none) stage times [s], and the peak resident memory [bytes], from -log_view -memory_view."""
    t = {}
    for name in ("Integrate", "Adjoint"):
        m = re.search(rf"^\s*\d+:\s+{name}:\s+(\S+)", stdout, re.M)
        t[name] = float(m.group(1)) if m else 0.0
    peak = re.search(r"Maximum \(over computational time\) process memory:\s+total\s+(\S+)", stdout)
    return t["Integrate"], t["Adjoint"], float(peak.group(1))


def ctflow_run(args, extra, gradient=True):
    loss = ["-loss", "mse", "-target", "target.h5", "-gradient", "g.h5"] if gradient else []
    cmd = [args.ctflow, "-controls", "controls.h5", "-u0", "u0.h5", "-traj", "none", "-log_view", "-memory_view"] + loss + extra
    out = subprocess.run(cmd, capture_output=True, text=True, env=bvt.environment())
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return stages(out.stdout)


def ctflow_train(args, epochs):
    """Integrate + Adjoint stage seconds of `ctflow -train` over `epochs` single-sample gradient evaluations."""
    cmd = [args.ctflow, "-train", "-controls", "controls.h5", "-data", "one_sample.h5", "-train_batch", "1", "-train_epochs", str(epochs),
           "-train_optimizer", "sgd", "-train_lr", "1e-12", "-train_out", "trained.h5", "-log_view", "-memory_view"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=bvt.environment())
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    forward, adjoint, _ = stages(out.stdout)
    return forward + adjoint


def main():
    args = parse_args()
    ctflow_blas = bvt.same_kernels(args)
    import h5py
    import numpy as np
    import torch
    from gradient_to_torch import torch_gradients

    torch.set_num_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)
    model = bvt.export_random_encoder(args)
    print(f"CPU: {bvt.cpu_model()}")
    print(f"ctflow BLAS: {ctflow_blas['blas']}; torch on {'its own OpenBLAS' if args.own_kernels else 'the same library, preloaded'}")
    print(f"model: {args.layers} post-LN layers, d = {args.d_model}, {args.heads} heads, F = {args.ffn}, float64, one thread; loss ½‖u(T) − v‖²")
    print()
    print("| N_x | ctflow forward [s] | ctflow forward + gradient [s] | ratio | torch forward [s] | torch forward + backward [s] | ratio | ctflow / torch (f + g) | ctflow warm f + g [s] | warm ratio | warm ctflow / torch | peak memory, forward / all states / 2 checkpoints [MiB] | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for nx in args.nx:
        x = torch.randn(1, nx, args.d_model, generator=torch.Generator().manual_seed(nx), dtype=torch.float64)
        v = np.random.default_rng(nx).standard_normal((nx, args.d_model))
        with h5py.File("u0.h5", "w") as f:
            f["u0"] = x[0].numpy()
        with h5py.File("target.h5", "w") as f:
            f["target"] = v
        with h5py.File("one_sample.h5", "w") as f:
            f["inputs"] = x.numpy()
            f["targets"] = v[None]
        # Each repetition runs the forward, the cold gradient and the warm gradient back to back, and the ratios are
        # taken within a repetition: the host's speed drifts by more than the differences measured (bench/RESULTS.md).
        plain, runs, warms = [], [], []
        for _ in range(args.reps):
            plain.append(ctflow_run(args, [], gradient=False))
            runs.append(ctflow_run(args, []))
            warms.append((ctflow_train(args, args.warm_epochs) - ctflow_train(args, 1)) / (args.warm_epochs - 1))
        fwd = statistics.median(r[0] for r in plain)
        both = statistics.median(r[0] + r[1] for r in runs)
        ratio = statistics.median((r[0] + r[1]) / p[0] for r, p in zip(runs, plain))
        warm = statistics.median(warms)
        warm_ratio = statistics.median(w / p[0] for w, p in zip(warms, plain))
        peak_all = runs[0][2]
        peak_two = ctflow_run(args, ["-adjoint_checkpoints", "2"])[2]
        target, mask = torch.from_numpy(v), bvt.attention_mask(args, nx)

        def forward_backward():
            model.zero_grad()
            xi = x.clone().requires_grad_(True)
            loss = 0.5 * ((model(xi, mask=mask)[0] - target) ** 2).sum()
            loss.backward()
            return xi

        def forward():
            with torch.no_grad():
                model(x, mask=mask)

        forward_backward()  # warm-up
        t_fb = statistics.median(bvt.timed(forward_backward) for _ in range(args.reps))
        forward()
        t_f = statistics.median(bvt.timed(forward) for _ in range(args.reps))
        mapped = torch_gradients(model, "g.h5")
        diff = max(np.abs(mapped[n] - p.grad.numpy()).max() / np.abs(p.grad.numpy()).max() for n, p in model.named_parameters())
        print(f"| {nx} | {fwd:.3f} | {both:.3f} | {ratio:.2f} | {t_f:.3f} | {t_fb:.3f} | {t_fb / t_f:.2f} | {both / t_fb:.2f} | {warm:.3f} | {warm_ratio:.2f} | {warm / t_fb:.2f} | "
              f"{plain[0][2] / 2**20:.0f} / {peak_all / 2**20:.0f} / {peak_two / 2**20:.0f} | {diff:.1e} |")
        if not diff <= 1e-10:
            sys.exit(f"gradients differ from torch: {diff:.2e}")


if __name__ == "__main__":
    main()
