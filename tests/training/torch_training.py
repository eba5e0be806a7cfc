#!/usr/bin/python3
"""Training parity: a small ViT or CvT trained by torch and by `ctflow -train` from the same float64 parameters.

    /usr/bin/python3 tests/training/torch_training.py {gd,adam,sgd,adamw} [--model vit|cvt] --np 2
        [--freeze] [--ctflow build/ctflow] [--workdir DIR]

--model vit (the default): a torchvision VisionTransformer (3 × 8 × 8 images, patch 4, 2 pre-LN layers, 2 heads,
hidden 8, MLP 12, 5 classes) with random parameters (N(0, 1/4), γ in [1, 1.5), random ε; not torch's initialisation)
is exported to controls (tools/export_torch.py) and trained for 20 steps on 20 random images with random labels, in
torch and in ctflow:
  gd    full-batch gradient descent (SGD without momentum), 20 epochs of one step, lr 0.05
  adam  Adam, mini-batches of 5 in the file's order (-train_shuffle 0), 5 epochs of 4 steps, lr 0.01
  sgd   SGD with momentum 0.9 and weight decay 0.01, the same batches, lr 0.02
  adamw AdamW with weight decay 0.1 and the gradient clipped to norm 0.5, the same batches, lr 0.01
The value bias b_v is zero and its gradient, with the key bias's, is held at zero in torch: ctflow's parameter is
the constant output c = b_v W_oᵀ + b_o (the key bias cancels in the softmax), so with b_v = 0, c is b_o and both
sides train the same parameters (an elementwise optimiser does not see the transpositions of the export).
--model cvt: the paper's convolution Transformer of §6 (examples/conv_transformer.py), a 2-stage image classifier:
2 × 8 × 8 images, a 3 × 3 convolutional image embedding (stride 1, padding 1) into 4 tokens of 8 × 8 pixels, stage 0
one layer with 2 heads; the transfer to 8 tokens (prolongation) of 4 × 4 pixels (2 × 2 averages), stage 1 one layer
with 2 heads; 3 × 3 stencils for Q, K, V and the J = 2 feed-forward kernels; the class-token head (token 0's last
image, 16 pixels → 5 logits). Every parameter random (conv_transformer.randomise, seed 2024), then each stencil
divided by k Δy1 Δy2 (k = 3, the stage's pixel area 1 or 4), so that every convolution is an O(1) operator on both
stages (with the N(0, 0.16) stencils as drawn, stage 1's are ~5 times larger, its attention saturates, and full-batch
GD at lr 0.05 is chaotic: two float64 evaluation orders of the same 20 steps end 1e-2 apart). No token embedding
(term IV): its bias b^C is dead (the layer norm (45) right after it removes a per-token constant), so its gradient is
rounding, which Adam divides by its own size into steps of lr g/ε ~ 1e-11 that differ between any two evaluation
orders (measured with it: Adam 4e-10 relative on b^C, against 4e-15 for every live parameter); its gradient is checked
against torch autograd by examples/torch_gradients.py instead. 20 random images with random labels. The
ConvTransformer's forward takes one image, so torch's batch loss is the mean over the batch of each sample's
cross-entropy (ctflow solves one sample at a time); optimisers, batches, clipping and tolerances are the ViT's, and
the ViT's bias masking does not apply. The trained parameters are exactly the module's (stencils, biases, σ1, σ2 of
every layer, the embedding's Conv2d, the head's Linear, transposed by the export); σ1, σ2 are attributes of each
/stages/<s>/layers/<n> group, not datasets, and are compared as well.
--freeze (ViT): the patch embedding, layer 0's MLP and layer 1's first layer norm do not train — requires_grad = False
in torch (no gradient: not in the clipped norm, not decayed), -train_freeze with the same arrays' names in ctflow; the
frozen arrays of ctflow's trained controls must equal the initial ones bit for bit.
Checks: each epoch's mean pre-step loss agrees to 1e-10 relative, every trained array to 1e-9 relative in the max
norm. Both sides evaluate the same float64 expressions in different orders (~1e-15 per step); 20 steps of a
contracting-or-mildly-expanding optimisation keep that far below the tolerances (measured: see the printout).
"""
import argparse
import fnmatch
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
import conv_transformer  # noqa: E402
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
# --freeze: torch parameter name prefixes and ctflow's -train_freeze patterns for the same arrays.
FREEZE = (["conv_proj.", "encoder.layers.encoder_layer_0.mlp.", "encoder.layers.encoder_layer_1.ln_1."],
          ["vit/patch_*", "layers/0/mlp_*", "layers/1/layernorm1_*"])


def vit_model_and_data():
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


# The CvT: stages (N_x, N_y1, N_y2, N_h, layers), J, stencils of Q, K, V, of the feed-forward kernels and of the token
# embedding (none), the image (C, H, W, kernel, stride, padding), classes, head. Stage 0 → 1: tokens x2, pixels /2x2.
CVT = ([(4, 8, 8, 2, 1), (8, 4, 4, 2, 1)], 2, 3, 3, None, (2, 8, 8, 3, 1, 1), 5, "class_token")


def cvt_model_and_data():
    stages, J, k, k_ffn, k_embed, image, classes, head = CVT
    model = conv_transformer.build(stages, J, k, k_ffn, k_embed, image, classes, head)
    conv_transformer.randomise(model, seed=2024)
    first = model.stages[0]
    with torch.no_grad():  # the scaling of the docstring
        for stage in model.stages:
            area = (first.N1 / stage.N1) * (first.N2 / stage.N2)  # Δy1 Δy2 of the stage
            for layer in stage.layers:
                for W in (layer.WQ, layer.WK, layer.WV, *layer.W):
                    W /= W.shape[-1] * area
    g = torch.Generator().manual_seed(7)
    images = torch.randn(20, *image[:3], generator=g, dtype=torch.float64)
    labels = torch.randint(0, classes, (20,), generator=g)
    return model, images, labels


def vit_loss(model, images, labels):
    return nn.functional.cross_entropy(model(images), labels)


def cvt_loss(model, images, labels):
    """The mean over the batch of each sample's cross-entropy: the ConvTransformer's forward takes one image."""
    losses = [nn.functional.cross_entropy(model(x)[None], y[None]) for x, y in zip(images, labels)]
    return torch.stack(losses).mean()


MODELS = {"vit": (vit_model_and_data, vit_loss), "cvt": (cvt_model_and_data, cvt_loss)}


def torch_training(case, model, images, labels, batch_loss=vit_loss):
    make, _, batch, epochs, lr = CASES[case]
    opt = make(model.parameters(), lr)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for s in range(0, len(labels), batch):
            opt.zero_grad()
            loss = batch_loss(model, images[s:s + batch], labels[s:s + batch])
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
    parser.add_argument("--model", choices=list(MODELS), default="vit")
    parser.add_argument("--np", default="2")
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--freeze", action="store_true", help="train with some arrays frozen (ViT)")
    args = parser.parse_args()
    if args.freeze and args.model != "vit":
        parser.error("--freeze is for the ViT")
    prefix = "torch_" if args.model == "vit" else f"torch_{args.model}_"
    frozen = "_frozen" if args.freeze else ""
    work = args.workdir or os.path.join(ROOT, "build", "tests", "training", f"{prefix}{args.case}{frozen}_np{args.np}")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)

    model_and_data, batch_loss = MODELS[args.model]
    model, images, labels = model_and_data()
    model.eval()  # no dropout in either
    if args.freeze:
        frozen_count = 0
        for name, p in model.named_parameters():
            if name.startswith(tuple(FREEZE[0])):
                p.requires_grad_(False)
                frozen_count += p.numel()
        assert frozen_count > 0
    export(model, "initial.h5", False)
    with h5py.File("data.h5", "w") as f:
        f["images"], f["labels"] = images.numpy(), labels.numpy().astype(np.int64)
    _, flags, batch, epochs, lr = CASES[args.case]
    command = args.mpiexec.split() + ["-n", args.np, os.path.abspath(args.ctflow), "-train", "-controls", "initial.h5",
                                      "-data", "data.h5", "-train_batch", str(batch), "-train_epochs", str(epochs),
                                      "-train_lr", str(lr), "-train_shuffle", "0", "-train_history", "history.h5",
                                      "-train_out", "trained.h5"] + flags + (["-train_freeze", ",".join(FREEZE[1])] if args.freeze else [])
    print("running:", " ".join(command))
    run = subprocess.run(command, capture_output=True, text=True)
    print(run.stdout, end="")
    if run.returncode != 0:
        sys.exit(f"ctflow failed ({run.returncode}):\n{run.stderr}")

    reference = torch_training(args.case, model, images, labels, batch_loss)
    export(model, "torch_trained.h5", False)
    with h5py.File("history.h5") as f:
        curve = f["train_loss"][...]
    loss_error = np.abs(curve - reference).max() / np.abs(reference).max()
    worst, where = 0.0, ""
    with h5py.File("trained.h5") as ours, h5py.File("torch_trained.h5") as theirs:
        def compare(name, a, b):
            nonlocal worst, where
            e = np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)
            if e > worst:
                worst, where = e, name

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                compare(name, ours[name][...], obj[...])
            elif args.model == "cvt" and name.startswith("stages/"):  # σ1, σ2 (and the fixed sizes, scales)
                for key, value in obj.attrs.items():
                    compare(f"{name}@{key}", np.asarray(ours[name].attrs[key], dtype=np.float64),
                            np.asarray(value, dtype=np.float64))
        theirs.visititems(visit)
    if args.freeze:
        with h5py.File("trained.h5") as ours, h5py.File("initial.h5") as start:
            names = []
            start.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            held = [n for n in names if any(fnmatch.fnmatch(n, p) for p in FREEZE[1])]
            moved = [n for n in held if not np.array_equal(ours[n][...], start[n][...])]
        print(f"frozen: {len(held)} arrays ({', '.join(held)}), {frozen_count} parameters; changed: {moved or 'none'}")
        if len(held) != 8 or moved:
            sys.exit("FAILED: the frozen arrays must be the eight named and keep their initial values bit for bit")
    label = "" if args.model == "vit" else f"{args.model} "
    print(f"{label}{args.case} on {args.np} ranks, {len(reference)} epochs: "
          f"loss curve {reference[0]:.6f} → {reference[-1]:.6f}, relative difference {loss_error:.2e}; "
          f"trained parameters: largest relative difference {worst:.2e} ({where})")
    if not (loss_error <= 1e-10 and worst <= 1e-9):
        sys.exit("FAILED: tolerances are 1e-10 (loss curve) and 1e-9 (parameters)")


if __name__ == "__main__":
    main()
