#!/usr/bin/python3
"""Real Transformers as special cases of the continuous Transformer, checked against PyTorch.

    /usr/bin/python3 examples/torch_models.py CASE [--np 2] [--ctflow build/ctflow] [--mpiexec mpirun] [--workdir DIR]
                                              [--options="-split_projections relax"]

CASE is one of
    encoder_layer   an nn.TransformerEncoderLayer (post-LN, ReLU)
    encoder         an nn.TransformerEncoder of 2 post-LN ReLU layers
    gpt_decoder     a GPT-style causal stack: 3 pre-LN GELU layers with a final norm, run with a causal mask
    vit             a torchvision VisionTransformer on a 12 × 12 RGB image (ctflow -image, prints the logits)

The example builds the model in float64 with every parameter randomised and different per layer (torch's
defaults zero the attention biases, set γ = 1, β = 0, clone the layers and zero the ViT head, which would
hide mistakes), saves it with torch.save, exports it with tools/export_torch.py, runs
`mpirun -n NP build/ctflow -controls CONTROLS.h5 -u0 X.h5` (or `-image IMAGE.h5`) at Δt = 1 with unit
spacing, and compares ctflow's final state (ViT: its /logits) with torch's output. It exits non-zero
unless the relative max-norm difference is at most 1e-13: both sides evaluate the same float64 expressions
in different summation orders, which differ by ~1e-15; 1e-13 leaves room for layer norm's division by
small standard deviations. The tests (tests/torch/) run every case on 1, 2 and 3 ranks, and with
`--options "-split_projections relax"` (the relaxation form, docs/continuum.md) on 1 and 2 ranks.
"""
import argparse
import os
import subprocess
import sys

import h5py
import numpy as np
import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EXPORT = os.path.join(ROOT, "tools", "export_torch.py")

ENCODERS = {
    # name: (layers (None: a single layer), d_model, heads, dim_feedforward, tokens, norm_first, activation,
    #        final norm, causal)
    "encoder_layer": (None, 8, 4, 24, 5, False, "relu", False, False),
    "encoder": (2, 12, 3, 20, 7, False, "relu", False, False),
    "gpt_decoder": (3, 10, 2, 16, 9, True, "gelu", True, True),
}


def randomise(module, generator):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):  # σ2(y) away from 0 and a random ε, like trained models
                m.weight.copy_(1 + 0.5 * torch.rand(m.weight.shape, generator=generator, dtype=m.weight.dtype))
                m.eps = float(torch.rand(1, generator=generator)) * 1e-3 + 1e-6


def encoder_case(case):
    """Model, ctflow input file and options, torch's output."""
    layers, E, H, F, Nx, norm_first, act, final_norm, causal = ENCODERS[case]
    layer = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation=act, batch_first=True, norm_first=norm_first)
    model = layer if layers is None else nn.TransformerEncoder(
        layer, layers, norm=nn.LayerNorm(E) if final_norm else None, enable_nested_tensor=False)
    model = model.double().eval()
    randomise(model, torch.Generator().manual_seed(1234))
    x = torch.randn(1, Nx, E, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    mask = torch.triu(torch.ones(Nx, Nx, dtype=torch.bool), diagonal=1) if causal else None  # GPT: η ≤ x
    with torch.no_grad():
        out = model(x, mask=mask) if isinstance(model, nn.TransformerEncoder) else model(x, src_mask=mask)
    with h5py.File("u0.h5", "w") as f:
        f["u0"] = x[0].numpy()
    return model, ["-u0", "u0.h5"], ["--causal"] if causal else [], out[0].numpy()


def vit_case():
    from torchvision.models import VisionTransformer
    model = VisionTransformer(image_size=12, patch_size=4, num_layers=2, num_heads=3, hidden_dim=12, mlp_dim=20,
                              num_classes=5).double().eval()
    randomise(model, torch.Generator().manual_seed(4321))
    image = torch.randn(3, 12, 12, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        logits = model(image[None])[0].numpy()
    with h5py.File("image.h5", "w") as f:
        f["image"] = image.numpy()
    return model, ["-image", "image.h5"], [], logits


def run_ctflow(args, ctflow, options):
    """Runs ctflow with options under args.mpiexec on args.np ranks, printing its output; exits if it fails."""
    command = args.mpiexec.split() + ["-n", args.np, ctflow] + options
    print("running:", " ".join(command))
    run = subprocess.run(command, capture_output=True, text=True)
    print(run.stdout, end="")
    if run.returncode != 0:
        sys.exit(f"ctflow failed ({run.returncode}):\n{run.stderr}")


def check_final_output(args, reference, logits, tolerance):
    """Exits unless ctflow's final state in out.h5 (its /logits if logits) is torch's output to tolerance, relative in
    the max norm."""
    with h5py.File("out.h5") as f:
        assert f.attrs["status"] == b"complete"
        result = f["logits"][...] if logits else f["u"][sorted(f["u"])[-1]][...]
    error = np.abs(result - reference).max() / np.abs(reference).max()
    print(f"{args.case} on {args.np} ranks: relative max-norm difference to torch {error:.2e}")
    if not error <= tolerance:
        sys.exit("FAILED: ctflow does not reproduce torch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=list(ENCODERS) + ["vit"])
    parser.add_argument("--np", default="2", help="MPI ranks")
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun", help="MPI launcher, with its flags")
    parser.add_argument("--workdir", help="where the files go (default: build/examples/CASE)")
    parser.add_argument("--options", default="", help="further ctflow options, e.g. '-split_projections relax'")
    args = parser.parse_args()
    ctflow = os.path.abspath(args.ctflow)
    work = args.workdir or os.path.join(ROOT, "build", "examples", args.case)
    os.makedirs(work, exist_ok=True)
    os.chdir(work)

    model, inputs, export_flags, reference = vit_case() if args.case == "vit" else encoder_case(args.case)
    torch.save(model, "model.pt")
    subprocess.run([sys.executable, EXPORT, "model.pt", "controls.h5"] + export_flags, check=True)
    run_ctflow(args, ctflow, ["-controls", "controls.h5"] + inputs + ["-traj", "out.h5"] + args.options.split())
    check_final_output(args, reference, args.case == "vit", 1e-13)


if __name__ == "__main__":
    main()
