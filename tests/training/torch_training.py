#!/usr/bin/python3
"""Training parity: a small ViT trained by torch and by `ctflow -train` from the same float64 parameters.

    /usr/bin/python3 tests/training/torch_training.py {gd,adam,sgd,adamw} --np 2 [--ctflow build/ctflow] [--workdir DIR]

A torchvision VisionTransformer (3 × 8 × 8 images, patch 4, 2 pre-LN layers, 2 heads, hidden 8, MLP 12, 5 classes) with
random parameters (N(0, 1/4), γ in [1, 1.5), random ε; not torch's initialisation) is exported to controls
(tools/export_torch.py) and trained for 20 steps on 20 random images with random labels, in torch and in ctflow:
  gd    full-batch gradient descent (SGD without momentum), 20 epochs of one step, lr 0.05
  adam  Adam, mini-batches of 5 in the file's order (-train_shuffle 0), 5 epochs of 4 steps, lr 0.01
  sgd   SGD with momentum 0.9 and weight decay 0.01, the same batches, lr 0.02
  adamw AdamW with weight decay 0.1 and the gradient clipped to norm 0.5, the same batches, lr 0.01
The value bias b_v is zero and its gradient, with the key bias's, is held at zero in torch: ctflow's parameter is
the constant output c = b_v W_oᵀ + b_o (the key bias cancels in the softmax), so with b_v = 0, c is b_o and both
sides train the same parameters (an elementwise optimiser does not see the transpositions of the export).
Checks: each epoch's mean pre-step loss agrees to 1e-10 relative, every trained array to 1e-9 relative in the max
norm. Both sides evaluate the same float64 expressions in different orders (~1e-15 per step); 20 steps of a
contracting-or-mildly-expanding optimisation keep that far below the tolerances (measured: see the printout).
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
sys.path.insert(0, os.path.join(ROOT, "examples"))
from export_torch import export  # noqa: E402
from torch_models import randomise  # noqa: E402

CASES = {  # optimiser, ctflow options, batch, epochs, lr
    "gd": (lambda p, lr: torch.optim.SGD(p, lr=lr), ["-train_optimizer", "sgd", "-train_momentum", "0"], 20, 20, 0.05),
    "adam": (lambda p, lr: torch.optim.Adam(p, lr=lr), ["-train_optimizer", "adam"], 5, 5, 0.01),
    "sgd": (lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=0.01),
            ["-train_optimizer", "sgd", "-train_momentum", "0.9", "-train_weight_decay", "0.01"], 5, 5, 0.02),
    "adamw": (lambda p, lr: torch.optim.AdamW(p, lr=lr, weight_decay=0.1),
              ["-train_optimizer", "adamw", "-train_weight_decay", "0.1", "-train_clip", "0.5"], 5, 5, 0.01),
}
CLIP = {"adamw": 0.5}  # torch.nn.utils.clip_grad_norm_ before each step


def model_and_data():
    from torchvision.models import VisionTransformer
    model = VisionTransformer(image_size=8, patch_size=4, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=12,
                              num_classes=5).double()
    randomise(model, torch.Generator().manual_seed(2024))
    E = model.hidden_dim
    with torch.no_grad():
        for block in model.encoder.layers:
            block.self_attention.in_proj_bias[2 * E:].zero_()  # b_v = 0: then c = b_o (see the docstring)
            mask = torch.ones(3 * E, dtype=torch.float64)
            mask[E:] = 0
            block.self_attention.in_proj_bias.register_hook(lambda g, m=mask: g * m)
    g = torch.Generator().manual_seed(7)
    images = torch.randn(20, 3, 8, 8, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 5, (20,), generator=g)
    return model, images, labels


def torch_training(case, model, images, labels):
    make, _, batch, epochs, lr = CASES[case]
    opt = make(model.parameters(), lr)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for s in range(0, len(labels), batch):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(images[s:s + batch]), labels[s:s + batch])
            loss.backward()
            if case in CLIP:
                torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP[case])
            opt.step()
            total += float(loss) * len(labels[s:s + batch])
        losses.append(total / len(labels))
    return np.array(losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=list(CASES))
    parser.add_argument("--np", default="2")
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = args.workdir or os.path.join(ROOT, "build", "tests", "training", f"torch_{args.case}_np{args.np}")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)

    model, images, labels = model_and_data()
    model.eval()  # no dropout in either
    export(model, "initial.h5", False)
    with h5py.File("data.h5", "w") as f:
        f["images"], f["labels"] = images.numpy(), labels.numpy().astype(np.int64)
    _, flags, batch, epochs, lr = CASES[args.case]
    command = args.mpiexec.split() + ["-n", args.np, os.path.abspath(args.ctflow), "-train", "-controls", "initial.h5",
                                      "-data", "data.h5", "-train_batch", str(batch), "-train_epochs", str(epochs),
                                      "-train_lr", str(lr), "-train_shuffle", "0", "-train_history", "history.h5",
                                      "-train_out", "trained.h5"] + flags
    print("running:", " ".join(command))
    run = subprocess.run(command, capture_output=True, text=True)
    print(run.stdout, end="")
    if run.returncode != 0:
        sys.exit(f"ctflow failed ({run.returncode}):\n{run.stderr}")

    reference = torch_training(args.case, model, images, labels)
    export(model, "torch_trained.h5", False)
    with h5py.File("history.h5") as f:
        curve = f["train_loss"][...]
    loss_error = np.abs(curve - reference).max() / np.abs(reference).max()
    worst, where = 0.0, ""
    with h5py.File("trained.h5") as ours, h5py.File("torch_trained.h5") as theirs:
        def visit(name, obj):
            nonlocal worst, where
            if isinstance(obj, h5py.Dataset):
                a, b = ours[name][...], obj[...]
                e = np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)
                if e > worst:
                    worst, where = e, name
        theirs.visititems(visit)
    print(f"{args.case} on {args.np} ranks, {len(reference)} epochs: loss curve {reference[0]:.6f} → {reference[-1]:.6f}, "
          f"relative difference {loss_error:.2e}; trained parameters: largest relative difference {worst:.2e} ({where})")
    if not (loss_error <= 1e-10 and worst <= 1e-9):
        sys.exit("FAILED: tolerances are 1e-10 (loss curve) and 1e-9 (parameters)")


if __name__ == "__main__":
    main()
