#!/usr/bin/python3
"""An initial convolution Transformer (paper §6) to train with `ctflow -train` on a set of images: the image classifier
of examples/conv_transformer.py with a training initialisation, exported as controls by tools/export_torch.py.

    /usr/bin/python3 tools/make_cvt_controls.py OUT.h5 --data TRAIN.h5 [--stages "Nx,N1,N2,heads,layers;..."] [--J 2]
        [--k 3] [--k-ffn 3] [--k-embed K|0] [--kernel 3 --stride 1 --padding 1] [--head class_token|pixel_mean]
        [--seed 0] [--classes C] [--stencil-gain 0.5]

TRAIN.h5 is a training set of `ctflow -train` (/images (B, C, H, W) float64, /labels (B,) integers): it gives the image
shape and, unless --classes is given, the classes (the largest label + 1). The model (conv_transformer.build):

  * the image embedding, a Conv2d from the C channels to the N_x of stage 0 (--kernel, --stride, --padding; its output
    H' × W' must be stage 0's N1 × N2: the tool says which size it is if not);
  * the stages "Nx,N1,N2,heads,layers" separated by ';': N_x tokens of N1 × N2 pixels, the heads and layers of each,
    the multigrid transfer between them (pixels: N1, N2 must divide the previous stage's; tokens: N_x a divisor or a
    multiple of the previous N_x; docs/convolution.md); every layer with k × k stencils of Q, K, V per head (--k), J
    feed-forward kernels of k_ffn × k_ffn (--J, --k-ffn) and, unless --k-embed 0, the per-token convolutional token
    embedding of §6.2 (term IV, eq. (44)) of k_embed × k_embed;
  * the head (--head): `class_token` (the default), a Linear from token 0's image at T (the last stage's N1 N2 pixels)
    to the classes, §4.2's read-out of the class token; or `pixel_mean`, a Linear from the pixel means of every token,
    whose logits do not depend on the image (every layer ends with the layer norm of eq. (22), which sets each token's
    pixel mean to σ1; docs/convolution.md): `ctflow -train` refuses it, and it is here for comparison only.

Initialisation (seed --seed, a torch.Generator; every float64, the same on every machine):

  * image embedding and head: torch's default for Conv2d and Linear, weights and biases uniform in
    [−1/√fan_in, 1/√fan_in) (fan_in = C kernel², and N1 N2 of the last stage for the class-token head): the scale
    torch trains from, and the one ctflow's random ViT uses (docs/training.md);
  * stencils (W^Q, W^K, W^V of every head, the feed-forward kernels w_j, the token embedding's W^C): independent
    N(0, s²) with s = g / (k Δy1 Δy2) for a k × k stencil on a stage of pixel area Δy1 Δy2 (1 on stage 0, the pooling
    factors' product later; g = --stencil-gain). The convolution is (W * v)(y) = Δy1 Δy2 Σ_s W(ξ_s) v(y − ξ_s) over k²
    offsets, so on a field of independent unit-variance pixels it has standard deviation Δy1 Δy2 k s = g: every
    convolution starts as an O(g) operator on every stage whatever its k and pixel size (stencil values of O(1) would
    make the 5 × 5 and coarse-stage operators up to k Δy1 Δy2 times larger, a scale the layer norms then hide but the
    skip connections u + W * u do not). The attention's scores s Δy1 Δy2 Σ Q K with s = 1/√|Ω_y| are then O(g²). The
    default g = 1/2 starts each skip connection u + W * u dominated by u (measured on the digits: see
    examples/digits_cvt.opts);
  * the biases b^C (token embedding) and b_j (feed-forward): 0, so the first layers start as the convolutions alone
    (b^C stays there: the layer norm (45) right after it removes a per-token constant, so its gradient is rounding);
  * the layer norms' σ1 = 0 and σ2 = 1 (zero mean, unit standard deviation over each token's pixels): the identity on
    normalised images, torch's LayerNorm default (β = 0, γ = 1); σ2 is a scale, so starting it at 1 keeps every layer's
    output O(1).

Prints the model's sizes and parameter count; OUT.h5 is written whole or not at all.
"""
import argparse
import math
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, HERE)
import conv_transformer  # noqa: E402
from export_torch import Unsupported, export  # noqa: E402


def parse_stages(text):
    """ "Nx,N1,N2,heads,layers;..." → [(N_x, N_y1, N_y2, N_h, layers)], every entry a positive integer."""
    stages = []
    for part in text.split(";"):
        fields = part.split(",")
        try:
            values = tuple(int(v) for v in fields)
        except ValueError:
            values = ()
        if len(values) != 5 or min(values) < 1:
            raise ValueError(f"stage '{part}' is not five positive integers Nx,N1,N2,heads,layers")
        stages.append(values)
    return stages


def check_model(stages, image, k, k_ffn, k_embed):
    """Raises ValueError saying what is wrong unless ctflow can read the model (docs/convolution.md)."""
    C, H, W, kernel, stride, padding = image
    out = [(n + 2 * padding - kernel) // stride + 1 for n in (H, W)]
    if min(out) < 1:
        raise ValueError(f"the image embedding (kernel {kernel}, stride {stride}, padding {padding}) does not fit the "
                         f"images of {H} × {W} pixels")
    if tuple(out) != stages[0][1:3]:
        raise ValueError(f"the image embedding gives {out[0]} × {out[1]} pixels, but stage 0 has {stages[0][1]} × "
                         f"{stages[0][2]}: use --stages \"{stages[0][0]},{out[0]},{out[1]},...\"")
    for s in range(1, len(stages)):
        (nx0, a0, b0, _, _), (nx, a, b, _, _) = stages[s - 1], stages[s]
        if a0 % a or b0 % b:
            raise ValueError(f"stage {s}'s {a} × {b} pixels do not divide stage {s - 1}'s {a0} × {b0}")
        if nx0 % nx and nx % nx0:
            raise ValueError(f"stage {s}'s {nx} tokens are neither a divisor nor a multiple of stage {s - 1}'s {nx0}")
    for name, size in (("--k", k), ("--k-ffn", k_ffn), ("--k-embed", k_embed)):
        if size and size % 2 == 0:
            raise ValueError(f"{name} {size} must be odd (a centred stencil)")
        smallest = min(min(st[1], st[2]) for st in stages)
        if size and size > smallest:
            raise ValueError(f"{name} {size} is more than the {smallest} pixels of the smallest stage")


def initialise(model, seed, gain=0.5):
    """The training initialisation of the module docstring, in place; returns the model."""
    g = torch.Generator().manual_seed(seed)
    first = model.stages[0]
    with torch.no_grad():
        for m in (model.embedding, model.head):
            if m is None:
                continue
            bound = 1 / math.sqrt(m.weight[0].numel())  # fan_in: C kernel², or the head's inputs
            for p in (m.weight, m.bias):
                p.copy_((2 * torch.rand(p.shape, generator=g, dtype=p.dtype) - 1) * bound)
        for stage in model.stages:
            area = (first.N1 / stage.N1) * (first.N2 / stage.N2)  # Δy1 Δy2 of the stage (1 on stage 0)
            for layer in stage.layers:
                stencils = [layer.WQ, layer.WK, layer.WV, *layer.W]
                if layer.embed_W is not None:
                    stencils.append(layer.embed_W)
                for W in stencils:
                    s = gain / (W.shape[-1] * area)
                    W.copy_(torch.randn(W.shape, generator=g, dtype=W.dtype) * s)
                for b in [*layer.b] + ([layer.embed_b] if layer.embed_b is not None else []):
                    b.zero_()
                layer.sigma1.fill_(0.0)
                layer.sigma2.fill_(1.0)
    return model


def make_model(stages, J, k, k_ffn, k_embed, image, classes, seed, gain=0.5, head="class_token"):
    check_model(stages, image, k, k_ffn, k_embed)
    model = conv_transformer.build(stages, J, k, k_ffn, k_embed or None, image, classes, head)
    return initialise(model, seed, gain)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="controls file to write (HDF5)")
    parser.add_argument("--data", required=True, help="training set: /images (B, C, H, W), /labels (B,)")
    parser.add_argument("--stages", default="8,8,8,2,1;8,4,4,2,1",
                        help="Nx,N1,N2,heads,layers of each stage, ';' between")
    parser.add_argument("--J", type=int, default=2, help="feed-forward layers per layer")
    parser.add_argument("--k", type=int, default=3, help="stencil of Q, K, V")
    parser.add_argument("--k-ffn", type=int, default=3, help="stencil of the feed-forward kernels")
    parser.add_argument("--k-embed", type=int, default=0, help="stencil of the token embedding (0: none)")
    parser.add_argument("--kernel", type=int, default=3, help="image embedding: Conv2d kernel")
    parser.add_argument("--stride", type=int, default=1, help="image embedding: stride")
    parser.add_argument("--padding", type=int, default=1, help="image embedding: zero padding")
    parser.add_argument("--head", choices=["class_token", "pixel_mean"], default="class_token",
                        help="token 0's image, or the pixel means (not trainable: see above)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", type=int, default=None, help="default: the largest label + 1")
    parser.add_argument("--stencil-gain", type=float, default=0.5, help="g of the stencils' s = g / (k Δy1 Δy2)")
    args = parser.parse_args()

    try:
        with h5py.File(args.data, "r") as f:
            if "images" not in f or "labels" not in f:
                sys.exit(f"make_cvt_controls: '{args.data}' needs /images (B, C, H, W) and /labels (B,)")
            shape = f["images"].shape
            labels = f["labels"][...]
    except OSError as e:
        sys.exit(f"make_cvt_controls: cannot read '{args.data}': {e}")
    if len(shape) != 4 or not np.issubdtype(labels.dtype, np.integer) or labels.size == 0:
        sys.exit(f"make_cvt_controls: '{args.data}': /images must be (B, C, H, W) and /labels (B,) integers")
    classes = args.classes if args.classes is not None else int(labels.max()) + 1
    if classes < 2 or labels.min() < 0 or labels.max() >= classes:
        sys.exit(f"make_cvt_controls: {classes} classes do not hold the labels {labels.min()} … {labels.max()}")
    if args.J < 0 or min(args.k, args.k_ffn, args.kernel, args.stride) < 1 or args.k_embed < 0 or args.padding < 0:
        sys.exit("make_cvt_controls: --J, --k-embed, --padding must be ≥ 0 and --k, --k-ffn, --kernel, --stride ≥ 1")
    image = (shape[1], shape[2], shape[3], args.kernel, args.stride, args.padding)
    try:
        stages = parse_stages(args.stages)
        model = make_model(stages, args.J, args.k, args.k_ffn, args.k_embed, image, classes, args.seed,
                           args.stencil_gain, args.head)
    except ValueError as e:
        sys.exit(f"make_cvt_controls: {e}")

    partial = args.out + ".partial"
    try:
        export(model, partial, False)
        os.replace(partial, args.out)
    except (Unsupported, OSError) as e:
        sys.exit(f"make_cvt_controls: cannot write '{args.out}': {e}")
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    count = sum(p.numel() for p in model.parameters())
    layout = "; ".join(f"{nx} tokens of {a} × {b}, {h} heads, {n} layer{'s' * (n != 1)}" for nx, a, b, h, n in stages)
    print(f"wrote {args.out}: images {image[0]} × {image[1]} × {image[2]} → {layout} → {args.head} head, "
          f"{classes} classes; "
          f"J = {args.J}, stencils {args.k} (ffn {args.k_ffn}, token embedding {args.k_embed or 'none'}); "
          f"{count} parameters, seed {args.seed}")


if __name__ == "__main__":
    main()
