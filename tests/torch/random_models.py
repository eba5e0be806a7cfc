#!/usr/bin/python3
"""Random Transformers against torch: forward and gradient, on random rank counts and attention paths.

    /usr/bin/python3 tests/torch/random_models.py [--cases 8] [--seed 1000] [--only 3,7] [--ctflow build/ctflow]
                                                  [--mpiexec "mpirun --oversubscribe"] [--workdir DIR]

Case i draws everything from seed SEED + i (`--only i` repeats it): an nn.TransformerEncoder or a single
nn.TransformerEncoderLayer in float64 with every parameter random (γ of either sign), 1–4 layers, N_x from 1 to 64
(primes, fewer tokens than ranks are refused and skipped), d_head from 1 to 32 (not only multiples of the micro-kernel's
16), 1–8 heads, F below and above d_model, ReLU or GELU, post- or pre-LN, a final norm, causal masks, ε from 0 to 1 per
norm, attention and linear layers without biases, a norm without γ, β; ctflow on 1–3 ranks with the attention paths
chosen at random (`-attention_fused 0`, `-attention_short_size`, tiles of 1–16 keys, `-attention_materialise`). Each
case compares ctflow's final state with torch's output, and for about half the cases `-gradient` (loss ½‖u(T) − v‖²)
with torch autograd on every parameter and the input, and a second rank count with the first.

Tolerances, relative in the max norm: forward 1e-12, gradient 1e-11 (per torch tensor; a tensor zero but for rounding
against the largest gradient). The models are far from trained ones: logits up to ~100 make the float64 output itself
uncertain by ~1e-13 (a causal post-LN model of the sweep that chose these draws, N_x = 47, 3 layers, scores up to 90:
torch 3.1e-14 and ctflow 2.7e-13 from an 80-bit evaluation of the same model, each attention substep of ctflow 5e-15
from it on ctflow's own input); the fixed models of examples/torch_models.py keep 1e-13. Rank counts: 1e-13 forward,
1e-12 gradient (the query–key parts of a saturated softmax's gradient are sums that cancel to ~1e-8 of the others).
Exits non-zero on any mismatch, crash, or failure without a `ctflow: error:` line. tests/torch/ runs 8 cases by
default; with -DCTFLOW_STUDIES=ON also 150.
"""
import argparse
import os
import subprocess
import sys

import h5py
import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
from gradient_to_torch import torch_gradients  # noqa: E402

EXPORT = os.path.join(ROOT, "tools", "export_torch.py")
FORWARD_TOL, GRADIENT_TOL, RANKS_FORWARD_TOL, RANKS_GRADIENT_TOL = 1e-12, 1e-11, 1e-13, 1e-12
TOKENS = [1, 2, 3, 4, 5, 7, 8, 11, 13, 16, 17, 23, 29, 31, 32, 37, 41, 47, 53, 61, 63, 64]
D_HEAD = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 20, 24, 32]
EPS = [1e-5, 1e-5, 1e-6, 1e-3, 1e-2, 0.1, 1.0, 1e-12, 0.0, 3.7e-4]


def draw_case(seed):
    r = np.random.default_rng(seed)
    while True:
        d_head, heads = int(r.choice(D_HEAD)), int(r.integers(1, 9))
        if d_head * heads <= 64:
            break
    E = d_head * heads
    F = [1, max(1, E // 3), E, 2 * E + 1, int(r.integers(1, 97))][r.integers(0, 5)]
    layers = int(r.integers(1, 5))
    single = layers == 1 and r.random() < 0.5  # a bare TransformerEncoderLayer
    c = dict(seed=seed, Nx=int(r.choice(TOKENS)) if r.random() < 0.85 else int(r.integers(1, 65)), E=E, heads=heads, F=int(F),
             layers=layers, single=bool(single), act=str(r.choice(["relu", "gelu"])), norm_first=bool(r.random() < 0.5),
             final_norm=bool(not single and r.random() < 0.5), causal=bool(r.random() < 0.4), eps=[float(r.choice(EPS)) for _ in range(3)],
             std=float(r.choice([0.3, 0.5, 0.7, 1.0])), x_scale=float(r.choice([0.5, 1.0, 3.0])), x_offset=float(r.choice([0.0, 0.0, 2.0])),
             attn_bias=bool(r.random() < 0.8), linear_bias=bool(r.random() < 0.8), norm_affine=bool(r.random() < 0.85),
             ranks=int(r.integers(1, 4)), gradient=bool(r.random() < 0.55))
    options = []
    if r.random() < 0.25:
        options += ["-attention_fused", "0"]
    if r.random() < 0.25:
        options += ["-attention_short_size", "0"]
    elif r.random() < 0.15:
        options += ["-attention_short_size", str(int(r.choice([1, 16, 64, 100000])))]
    if r.random() < 0.35:
        options += ["-attention_tile", str(int(r.choice([1, 2, 3, 5, 7, 16])))]
    if r.random() < 0.15:
        options += ["-attention_materialise"]
    c["options"] = options
    c["second_ranks"] = int(r.choice([p for p in (1, 2, 3) if p != c["ranks"]])) if r.random() < 0.4 else None
    return c


def build_model(c):
    generator = torch.Generator().manual_seed(c["seed"])
    E, H, F = c["E"], c["heads"], c["F"]

    def layer():
        l = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation=c["act"], batch_first=True, norm_first=c["norm_first"],
                                       layer_norm_eps=c["eps"][0])
        l.norm2.eps = c["eps"][1]
        if not c["attn_bias"]:
            l.self_attn = nn.MultiheadAttention(E, H, dropout=0.0, bias=False, batch_first=True)
        if not c["linear_bias"]:
            l.linear1, l.linear2 = nn.Linear(E, F, bias=False), nn.Linear(F, E, bias=False)
        if not c["norm_affine"]:
            l.norm1 = nn.LayerNorm(E, eps=c["eps"][0], elementwise_affine=False)
        return l

    if c["single"]:
        model = layer()
    else:
        model = nn.TransformerEncoder(layer(), 1, norm=nn.LayerNorm(E, eps=c["eps"][2]) if c["final_norm"] else None,
                                      enable_nested_tensor=False)
        model.layers, model.num_layers = nn.ModuleList([layer() for _ in range(c["layers"])]), c["layers"]
    # Training mode with dropout 0 is the same function and keeps torch 1.13 off its inference fast path, which fails
    # on a module without biases.
    model = model.double().train()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * c["std"])
        for m in model.modules():
            if isinstance(m, nn.LayerNorm) and m.weight is not None:  # γ of either sign
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator, dtype=m.weight.dtype) * 0.7 + 0.3)
    return model


def torch_output(model, c, x):
    mask = torch.triu(torch.ones(c["Nx"], c["Nx"], dtype=torch.bool), diagonal=1) if c["causal"] else None
    return model(x, mask=mask) if isinstance(model, nn.TransformerEncoder) else model(x, src_mask=mask)


def run_ctflow(args, ranks, options, log):
    """None when ctflow ran, 'refused' when it stopped with its one error line; raises on anything else."""
    command = args.mpiexec.split() + ["-n", str(ranks), args.ctflow] + options
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    log.write(f"$ {' '.join(command)}\n{run.stdout}{run.stderr}")
    if run.returncode == 0:
        return None
    errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("ctflow: error:")]
    if errors and "N_x = " in errors[0] and "cannot be distributed" in errors[0]:
        return "refused"
    raise RuntimeError(f"ctflow failed ({run.returncode}) on {ranks} ranks: {(run.stderr or run.stdout).strip()[-400:]}")


def relative(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def gradient_errors(mapped, reference):
    """Largest difference per tensor between two {name: array} maps, relative to the tensor (or the largest one for a
    tensor zero but for rounding)."""
    largest = max(np.abs(v).max() for v in reference.values())
    worst = 0.0
    for name, theirs in reference.items():
        scale = np.abs(theirs).max()
        worst = max(worst, float(np.abs(mapped[name] - theirs).max() / (scale if scale > 1e-13 * largest else largest)))
    return worst


def run_case(args, i):
    c = draw_case(args.seed + i)
    work = os.path.join(args.workdir, f"case{i:03d}")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    r = np.random.default_rng(c["seed"] + 7)
    model = build_model(c)
    x = torch.from_numpy(r.normal(c["x_offset"], c["x_scale"], (1, c["Nx"], c["E"]))).requires_grad_(c["gradient"])
    with h5py.File("u0.h5", "w") as f:
        f["u0"] = x[0].detach().numpy()
    torch.save(model, "model.pt")
    subprocess.run([sys.executable, EXPORT, "model.pt", "controls.h5"] + (["--causal"] if c["causal"] else []), check=True,
                   capture_output=True)
    out = torch_output(model, c, x)[0]
    reference = out.detach().numpy()
    rank_counts = [c["ranks"]] + ([c["second_ranks"]] if c["second_ranks"] else [])
    summary = dict(forward=0.0, gradient=0.0, ranks=0.0)
    finals, gradients = {}, {}
    with open("log.txt", "w") as log:
        for ranks in rank_counts:
            if run_ctflow(args, ranks, ["-controls", "controls.h5", "-u0", "u0.h5", "-traj", f"out{ranks}.h5"] + c["options"], log):
                return c, "refused", summary
            with h5py.File(f"out{ranks}.h5") as f:
                finals[ranks] = f["u"][sorted(f["u"])[-1]][...]
            summary["forward"] = max(summary["forward"], relative(finals[ranks], reference))
        if c["gradient"]:
            target = r.normal(0, 1, reference.shape)
            with h5py.File("target.h5", "w") as f:
                f["target"] = target
            loss = 0.5 * ((out - torch.from_numpy(target)) ** 2).sum()
            loss.backward()
            expected = {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}
            expected["input"] = x.grad[0].numpy()
            for ranks in rank_counts:
                run_ctflow(args, ranks, ["-controls", "controls.h5", "-u0", "u0.h5", "-traj", "none", "-loss", "mse", "-target", "target.h5",
                                         "-gradient", f"g{ranks}.h5"] + c["options"], log)
                gradients[ranks] = torch_gradients(model, f"g{ranks}.h5")
                with h5py.File(f"g{ranks}.h5") as f:
                    gradients[ranks]["input"] = f["u0"][...].reshape(expected["input"].shape)
                    summary["gradient"] = max(summary["gradient"], abs(f.attrs["loss"] - float(loss)) / abs(float(loss)))
                missing = set(expected) - set(gradients[ranks])
                if missing:
                    raise RuntimeError(f"the gradient file has no {sorted(missing)}")
                summary["gradient"] = max(summary["gradient"], gradient_errors(gradients[ranks], expected))
    failures = []
    if not summary["forward"] <= FORWARD_TOL:
        failures.append(f"forward differs from torch by {summary['forward']:.2e}")
    if not summary["gradient"] <= GRADIENT_TOL:
        failures.append(f"gradient differs from torch autograd by {summary['gradient']:.2e}")
    if len(rank_counts) == 2:
        a, b = rank_counts
        summary["ranks"] = relative(finals[b], finals[a])
        if not summary["ranks"] <= RANKS_FORWARD_TOL:
            failures.append(f"forward on {a} and {b} ranks differs by {summary['ranks']:.2e}")
        if gradients:
            between = gradient_errors(gradients[b], gradients[a])
            summary["ranks"] = max(summary["ranks"], between)
            if not between <= RANKS_GRADIENT_TOL:
                failures.append(f"gradient on {a} and {b} ranks differs by {between:.2e}")
    return c, "; ".join(failures) or "ok", summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--only", default="", help="comma-separated case numbers")
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun --oversubscribe", help="MPI launcher, with its flags")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "build", "random_models"))
    args = parser.parse_args()
    args.ctflow, args.workdir = os.path.abspath(args.ctflow), os.path.abspath(args.workdir)
    cases = [int(s) for s in args.only.split(",")] if args.only else range(args.cases)
    failed = 0
    for i in cases:
        try:
            c, verdict, s = run_case(args, i)
        except (RuntimeError, subprocess.SubprocessError) as e:
            c, verdict, s = draw_case(args.seed + i), f"FAILED: {e}", {}
        failed += verdict not in ("ok", "refused")
        shape = (f"N_x {c['Nx']} d {c['E']} heads {c['heads']} F {c['F']} {'one layer' if c['single'] else str(c['layers']) + ' layers'} {c['act']} "
                 f"{'pre' if c['norm_first'] else 'post'}-LN{' causal' if c['causal'] else ''} np {c['ranks']}"
                 f"{'/' + str(c['second_ranks']) if c['second_ranks'] else ''} {' '.join(c['options'])}")
        figures = " ".join(f"{k} {v:.1e}" for k, v in s.items() if v)
        print(f"case {i} (seed {c['seed']}): {verdict}  [{figures}]  {shape}", flush=True)
    print(f"{len(cases)} cases, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
