#!/usr/bin/python3
"""The exact gradient of the control problem, checked against PyTorch's autograd.

    /usr/bin/python3 examples/torch_gradients.py CASE [--np 2] [--ctflow build/ctflow] [--mpiexec mpirun] [--workdir DIR]

CASE is one of (the models of examples/torch_models.py, every parameter randomised)
    encoder_layer   an nn.TransformerEncoderLayer (post-LN, ReLU), loss ½‖u(T) − v‖²
    encoder4        an nn.TransformerEncoder of 4 post-LN ReLU layers (N_y ≠ F), loss ½‖u(T) − v‖²
    gpt_decoder     3 pre-LN GELU layers with a final norm and a causal mask, loss ½‖u(T) − v‖²
    vit             a torchvision VisionTransformer, cross-entropy of the logits for a random label
    conv_block      the paper's convolution Transformer with token embeddings (examples/conv_transformer.py, §6.2): 2 layers,
                    6 tokens of 7 × 5 pixels, 2 heads, 3 × 3 stencils, 5 × 5 embeddings, J = 2, loss ½‖u(T) − v‖²
    cvt2            the 2-stage CvT classifier of examples/torch_convolution.py cvt2 (image embedding, a transfer to 8
                    tokens of 4 × 3 pixels, the head on the pixel means), cross-entropy for a random label. The §6.2
                    scheme ends with a layer norm, so every token's pixel mean is σ1 and the logits depend on the head and
                    the last σ1 only: every other gradient is zero (to rounding, on both sides)
    cvt2_token      the same classifier with the head on token 0's image (§4.2's class token): every gradient is non-zero
    cvt2_mse        the same model without the head, loss ½‖u(T) − v‖² on the last stage's state: the image embedding,
                    both stages and the transfer between them

ctflow runs the exported controls at Δt = 1 with `-loss ... -gradient g.h5` (the discrete adjoint, docs/adjoint.md),
tools/gradient_to_torch.py maps the gradient onto the module's parameter names, and every parameter's gradient and
the input's (dL/du0; not for the ViT and the CvT, whose inputs are images) are compared with `loss.backward()`. It exits
non-zero unless each tensor agrees to 1e-12 relative in the max norm (a tensor whose gradient is zero but for rounding,
such as the bias of a token embedding that the next layer norm removes, to 1e-12 of the largest gradient): both sides
evaluate the same float64 expressions in different orders (~1e-15); the margin covers the layer norms' divisions by
small deviations.
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
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import torch_models  # noqa: E402
from gradient_to_torch import torch_gradients  # noqa: E402

torch_models.ENCODERS["encoder4"] = (4, 12, 3, 20, 7, False, "relu", False, False)
CONVOLUTIONAL = {"conv_block": "block_embedding", "cvt2": "cvt2", "cvt2_token": "cvt2_token", "cvt2_mse": "cvt2"}  # the cases of examples/torch_convolution.py


def convolutional_case(case):
    """A convolution Transformer of examples/conv_transformer.py with every parameter random; mse or cross-entropy."""
    import conv_transformer
    from torch_convolution import CASES, model as convolutional_model

    stages, J, k, k_embed, image = CASES[CONVOLUTIONAL[case]]
    model = convolutional_model(CONVOLUTIONAL[case])
    g = torch.Generator().manual_seed(3)
    if case in ("cvt2", "cvt2_token"):
        x = torch.randn(image[:3], generator=g, dtype=torch.float64)
        with h5py.File("image.h5", "w") as f:
            f["image"] = x.numpy()
        label = int(np.random.default_rng(11).integers(0, 5))
        loss = nn.functional.cross_entropy(model(x)[None], torch.tensor([label]))
        loss.backward()
        return model, ["-image", "image.h5", "-loss", "cross_entropy", "-label", str(label)], [], None, float(loss)
    if image:  # the last stage's state: the model's forward up to the head
        x = torch.randn(image[:3], generator=g, dtype=torch.float64)
        with h5py.File("image.h5", "w") as f:
            f["image"] = x.numpy()
        inputs, out = ["-image", "image.h5"], model.embedding(x[None])[0]
        for s, stage in enumerate(model.stages):
            out = stage(conv_transformer.transfer(out, stage) if s else out)
    else:
        x = torch.randn(stages[0][:3], generator=g, dtype=torch.float64)
        with h5py.File("u0.h5", "w") as f:
            f["u0"] = x.numpy()
        x.requires_grad_(True)
        inputs, out = ["-u0", "u0.h5"], model(x)
    target = np.random.default_rng(7).normal(0, 1, out.shape)
    with h5py.File("target.h5", "w") as f:
        f["target"] = target.reshape(out.shape[0], -1)  # (N_x, N_y): N_y = N_y1 N_y2 pixels per token
    # ctflow's mse is ½ Σ (u − v)² Δx Δy on the last stage's grid: later stages cover Ω_x × Ω_y with fewer, larger cells.
    (Nx0, N10, N20), (Nx, N1, N2) = stages[0][:3], stages[-1][:3]
    loss = 0.5 * (Nx0 / Nx) * (N10 * N20 / (N1 * N2)) * ((out - torch.from_numpy(target)) ** 2).sum()
    loss.backward()
    return model, inputs + ["-loss", "mse", "-target", "target.h5"], [], None if image else x.grad.numpy(), float(loss)


def run_case(case):
    """Model, ctflow options, torch's parameter and input gradients."""
    if case in CONVOLUTIONAL:
        return convolutional_case(case)
    if case == "vit":
        model, inputs, flags, logits = torch_models.vit_case()
        label = int(np.random.default_rng(11).integers(0, logits.shape[0]))
        image = torch.from_numpy(h5py.File("image.h5")["image"][...])
        out = model(image[None])
        loss = nn.functional.cross_entropy(out, torch.tensor([label]))
        loss.backward()
        return model, inputs + ["-loss", "cross_entropy", "-label", str(label)], flags, None, float(loss)
    model, inputs, flags, reference = torch_models.encoder_case(case)
    target = np.random.default_rng(7).normal(0, 1, reference.shape)
    with h5py.File("target.h5", "w") as f:
        f["target"] = target
    x = torch.from_numpy(h5py.File("u0.h5")["u0"][...])[None].requires_grad_(True)
    causal = torch_models.ENCODERS[case][-1]
    mask = torch.triu(torch.ones(x.shape[1], x.shape[1], dtype=torch.bool), diagonal=1) if causal else None
    out = model(x, mask=mask) if isinstance(model, nn.TransformerEncoder) else model(x, src_mask=mask)
    loss = 0.5 * ((out[0] - torch.from_numpy(target)) ** 2).sum()
    loss.backward()
    return model, inputs + ["-loss", "mse", "-target", "target.h5"], flags, x.grad[0].numpy(), float(loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=["encoder_layer", "encoder4", "gpt_decoder", "vit"] + list(CONVOLUTIONAL))
    parser.add_argument("--np", default="2", help="MPI ranks")
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun", help="MPI launcher, with its flags")
    parser.add_argument("--workdir", help="where the files go (default: build/examples/gradient_CASE)")
    args = parser.parse_args()
    ctflow = os.path.abspath(args.ctflow)
    work = args.workdir or os.path.join(ROOT, "build", "examples", "gradient_" + args.case)
    os.makedirs(work, exist_ok=True)
    os.chdir(work)

    model, inputs, flags, input_grad, loss = run_case(args.case)
    torch.save(model, "model.pt")
    subprocess.run([sys.executable, torch_models.EXPORT, "model.pt", "controls.h5"] + flags, check=True)
    torch_models.run_ctflow(args, ctflow, ["-controls", "controls.h5", "-traj", "none", "-gradient", "g.h5"] + inputs)
    worst = abs(h5py.File("g.h5").attrs["loss"] - loss) / abs(loss)
    print(f"loss: ctflow {h5py.File('g.h5').attrs['loss']:.17g}, torch {loss:.17g}")
    mapped = torch_gradients(model, "g.h5")
    compared = [(name, mapped[name], p.grad.numpy()) for name, p in model.named_parameters() if p.grad is not None]
    if input_grad is not None:
        compared.append(("input (dL/du0)", h5py.File("g.h5")["u0"][...].reshape(input_grad.shape), input_grad))
    largest = max(np.abs(theirs).max() for _, _, theirs in compared)
    for name, ours, theirs in compared:
        scale = max(np.abs(theirs).max(), 1e-300)
        if scale <= 1e-13 * largest:  # zero but for rounding (a bias that a layer norm removes): compared absolutely
            error = np.abs(ours - theirs).max() / largest
            print(f"  {name:45s} max|grad| {scale:.3e}  zero to rounding; difference / largest gradient {error:.2e}")
        else:
            error = np.abs(ours - theirs).max() / scale
            print(f"  {name:45s} max|grad| {scale:.3e}  relative difference {error:.2e}")
        worst = max(worst, error)
    missing = [name for name, p in model.named_parameters() if p.grad is not None and name not in mapped]
    print(f"{args.case} on {args.np} ranks: {len(compared)} gradients, largest relative difference {worst:.2e}")
    if missing or not worst <= 1e-12:
        sys.exit(f"FAILED: {'unmapped ' + ', '.join(missing) if missing else 'gradients differ from torch autograd'}")


if __name__ == "__main__":
    main()
