#!/usr/bin/python3
"""Convolution Transformers (paper §6) in ctflow against a float64 PyTorch reference written from the equations.

    /usr/bin/python3 examples/torch_convolution.py CASE [--np 2] [--ctflow build/ctflow] [--mpiexec mpirun] [--workdir DIR]

CASE is one of
    block            a one-stage convolution Transformer (§6.1): 2 layers, 6 tokens of 7 × 5 pixels, 2 heads, 3 × 3
                     stencils, J = 2 convolutional feed-forward layers
    block_embedding  the same with the convolutional token embedding of §6.2 (term IV, 5 × 5 stencils per token)
    cvt2             a 2-stage image classifier: a 3 × 16 × 12 image, a stride-2 convolutional embedding into 4 tokens of
                     8 × 6 pixels, 2 layers with token embeddings; the transfer to 8 tokens of 4 × 3 pixels; 1 layer with 3
                     heads; the head on the pixel means → 5 logits
    cvt2_token       the same with the head on token 0's image (§4.2's class token), the head a classifier trains

The model (examples/conv_transformer.py) has every parameter random, is saved with torch.save, exported with
tools/export_torch.py and run by `mpirun -n NP build/ctflow -controls CONTROLS.h5 -u0 U0.h5` (or `-image IMAGE.h5`) at
Δt = 1 with unit spacing; ctflow's final state (cvt2: its /logits) is compared with torch's output. It exits non-zero
unless the relative max-norm difference is at most 1e-12: both sides evaluate the same float64 sums in different orders
(GEMM blocking, the online softmax), which differ by ~1e-15 per layer; layer norm divides by standard deviations
of order 0.1–1, so a few layers stay below 1e-13, and 1e-12 leaves a margin. The tests (tests/convolution/) run every
case on 1, 2 and 3 ranks.
"""
import argparse
import os
import subprocess
import sys

import h5py
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EXPORT = os.path.join(ROOT, "tools", "export_torch.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_transformer  # noqa: E402  (torch.save pickles the modules under this name)
from torch_models import check_final_output, run_ctflow  # noqa: E402

CASES = {
    # stages [(N_x, N_y1, N_y2, N_h, layers)], J, stencil, token-embedding stencil, image (C, H, W, kernel, stride, padding)
    "block": ([(6, 7, 5, 2, 2)], 2, 3, None, None),
    "block_embedding": ([(6, 7, 5, 2, 2)], 2, 3, 5, None),
    "cvt2": ([(4, 8, 6, 2, 2), (8, 4, 3, 3, 1)], 1, 3, 3, (3, 16, 12, 3, 2, 1)),
    "cvt2_token": ([(4, 8, 6, 2, 2), (8, 4, 3, 3, 1)], 1, 3, 3, (3, 16, 12, 3, 2, 1)),
}
HEADS = {"cvt2_token": "class_token"}  # the classifiers' head (conv_transformer.build); the others: pixel_mean


def model(case):
    """The case's model with every parameter random."""
    stages, J, k, k_embed, image = CASES[case]
    return conv_transformer.randomise(conv_transformer.build(stages, J, k, 3, k_embed, image, classes=5, head_kind=HEADS.get(case, "pixel_mean")),
                                      seed=17)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=list(CASES))
    parser.add_argument("--np", default="2", help="MPI ranks")
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun", help="MPI launcher, with its flags")
    parser.add_argument("--workdir", help="where the files go (default: build/examples/CASE)")
    args = parser.parse_args()
    ctflow = os.path.abspath(args.ctflow)
    work = args.workdir or os.path.join(ROOT, "build", "examples", args.case)
    os.makedirs(work, exist_ok=True)
    os.chdir(work)

    stages, J, k, k_embed, image = CASES[args.case]
    net = model(args.case)
    g = torch.Generator().manual_seed(3)
    if image:
        x = torch.randn(image[:3], generator=g, dtype=torch.float64)
        with h5py.File("image.h5", "w") as f:
            f["image"] = x.numpy()
        inputs = ["-image", "image.h5"]
    else:
        x = torch.randn(stages[0][:3], generator=g, dtype=torch.float64)
        with h5py.File("u0.h5", "w") as f:
            f["u0"] = x.numpy()
        inputs = ["-u0", "u0.h5"]
    with torch.no_grad():
        reference = net(x).numpy()
    torch.save(net, "model.pt")
    subprocess.run([sys.executable, EXPORT, "model.pt", "controls.h5"], check=True)
    run_ctflow(args, ctflow, ["-controls", "controls.h5"] + inputs + ["-traj", "out.h5"])
    check_final_output(args, reference, bool(image), 1e-12)


if __name__ == "__main__":
    main()
