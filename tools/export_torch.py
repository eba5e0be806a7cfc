#!/usr/bin/python3
"""Export a PyTorch Transformer encoder as ctflow layered controls (docs/controls-format.md).

    /usr/bin/python3 tools/export_torch.py MODEL.pt CONTROLS.h5 [--causal]

MODEL.pt is a module saved with torch.save: nn.TransformerEncoderLayer or nn.TransformerEncoder (post-LN or
pre-LN, relu or gelu, with or without a final norm), torchvision.models.VisionTransformer (its patch
embedding, class token, position embedding, final norm and head become the pre- and post-processing F and
G of the paper's §4.2; run it with `ctflow -controls CONTROLS.h5 -image IMAGE.h5`), or the paper's convolution
Transformer of examples/conv_transformer.py (§6: one or more stages, optionally an image classifier; written as the
convolutional controls of docs/controls-format.md). `build/ctflow -controls CONTROLS.h5 -u0 X.h5` then runs
it at Δt = 1 with unit spacing and reproduces the module's output to round-off (docs/torch-mapping.md).
--causal declares causal (GPT-style) attention: torch 1.13 passes the mask at call time, so the module
cannot say. Anything that cannot be mapped exactly is refused with a message, never approximated.
"""
import argparse
import math
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn

# The convolution Transformer's modules (examples/conv_transformer.py), which torch.load needs to unpickle it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))


class Unsupported(Exception):
    pass


def activation_name(layer):
    act = layer.activation
    if act is torch.nn.functional.relu or isinstance(act, nn.ReLU):
        return "relu"
    if act is torch.nn.functional.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        return "gelu"
    raise Unsupported(f"activation {layer.activation!r} has no exact counterpart (supported: relu, exact gelu)")


def layer_norm(norm):
    if not isinstance(norm, nn.LayerNorm) or tuple(norm.normalized_shape) != (norm.normalized_shape[0],):
        raise Unsupported(f"{norm!r}: only nn.LayerNorm over the feature dimension is supported")
    n = norm.normalized_shape[0]
    gamma = norm.weight.detach() if norm.weight is not None else torch.ones(n)
    beta = norm.bias.detach() if norm.bias is not None else torch.zeros(n)
    return gamma.double().numpy(), beta.double().numpy(), float(norm.eps)


def attention(mha):
    if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
        raise Unsupported("MultiheadAttention with kdim/vdim != embed_dim, bias_k/bias_v or add_zero_attn")
    E, H = mha.embed_dim, mha.num_heads
    d = E // H
    W = mha.in_proj_weight.detach().double().numpy()
    b = mha.in_proj_bias.detach().double().numpy() if mha.in_proj_bias is not None else np.zeros(3 * E)
    Wo = mha.out_proj.weight.detach().double().numpy()
    bo = mha.out_proj.bias.detach().double().numpy() if mha.out_proj.bias is not None else np.zeros(E)
    Wq, Wk, Wv = W[:E], W[E:2 * E], W[2 * E:]
    heads = lambda M: np.stack([M[m * d:(m + 1) * d].T for m in range(H)])  # (H, E, d): u @ W_m
    return {
        "WQ": heads(Wq), "WK": heads(Wk), "WV": heads(Wv),
        "WO": np.stack([Wo[:, m * d:(m + 1) * d].T for m in range(H)]),  # (H, d, E)
        "bQ": b[:E].reshape(H, d),                                       # the key bias cancels in the softmax
        "c": b[2 * E:] @ Wo.T + bo,                                      # γ integrates to 1: value bias is constant
    }, 1.0 / np.sqrt(d)


def linear(lin):
    W = lin.weight.detach().double().numpy().T
    b = lin.bias.detach().double().numpy() if lin.bias is not None else np.zeros(W.shape[1])
    return W, b


def encoder_blocks(module):
    """(layers as (self_attn, linear1, linear2, activation, norm1, norm2)), norm_first, final norm, ViT part)."""
    if isinstance(module, nn.TransformerEncoderLayer):
        module = nn.ModuleList([module])
    if isinstance(module, (nn.TransformerEncoder, nn.ModuleList)):
        layers = list(module.layers) if isinstance(module, nn.TransformerEncoder) else list(module)
        norm_first = {bool(layer.norm_first) for layer in layers}
        if len(norm_first) != 1:
            raise Unsupported("layers mix pre-LN and post-LN; ctflow applies one splitting composition to every step")
        blocks = [(l.self_attn, l.linear1, l.linear2, activation_name(l), l.norm1, l.norm2) for l in layers]
        return blocks, norm_first.pop(), getattr(module, "norm", None), None
    try:
        from torchvision.models import VisionTransformer
    except ImportError:
        VisionTransformer = ()
    if isinstance(module, VisionTransformer):
        return vit_blocks(module)
    raise Unsupported(f"{type(module).__name__} is not an nn.TransformerEncoderLayer, nn.TransformerEncoder or VisionTransformer")


def vit_blocks(vit):
    """torchvision's EncoderBlock is pre-LN: x + attn(ln_1(x)), then x + mlp(ln_2(x)); exact GELU in the MLP."""
    conv = vit.conv_proj
    if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (vit.patch_size,) * 2 or conv.stride != conv.kernel_size \
            or conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1:
        raise Unsupported("the patch embedding must be a p × p convolution with stride p (no conv stem)")
    if not (len(vit.heads) == 1 and isinstance(vit.heads[0], nn.Linear)):
        raise Unsupported("only a single linear head is supported (no representation_size / pre-logits layer)")
    blocks = []
    for block in vit.encoder.layers:
        linears = [m for m in block.mlp if isinstance(m, nn.Linear)]
        acts = [m for m in block.mlp if not isinstance(m, (nn.Linear, nn.Dropout))]
        if len(linears) != 2 or len(acts) != 1 or not (isinstance(acts[0], nn.GELU) and acts[0].approximate == "none"):
            raise Unsupported("each MLP block must be Linear, exact GELU, Linear")
        blocks.append((block.self_attention, linears[0], linears[1], "gelu", block.ln_1, block.ln_2))
    W = conv.weight.detach().double().numpy()  # (N_y, C, p, p)
    processing = {
        "patch_embedding": W.reshape(W.shape[0], -1).T,  # (C p p, N_y), patches flattened in (c, i, j) order
        "patch_bias": conv.bias.detach().double().numpy() if conv.bias is not None else np.zeros(W.shape[0]),
        "class_token": vit.class_token.detach().double().numpy().reshape(-1),
        "position_embedding": vit.encoder.pos_embedding.detach().double().numpy()[0],
        "head_weight": vit.heads[0].weight.detach().double().numpy().T,
        "head_bias": vit.heads[0].bias.detach().double().numpy(),
        "attrs": {"channels": float(W.shape[1]), "image_height": float(vit.image_size),
                  "image_width": float(vit.image_size), "patch_size": float(vit.patch_size)},
    }
    return blocks, True, vit.encoder.ln, processing


def export_convolutional(model, path):
    """examples/conv_transformer.py's ConvTransformer as convolutional controls (stages, stencils, /cvt)."""
    first = model.stages[0]
    with h5py.File(path, "w") as f:
        f.attrs["source"] = f"torch {torch.__version__}: ConvTransformer (paper §6)"
        for s, stage in enumerate(model.stages):
            g = f.create_group(f"stages/{s}")
            for name, value in (("N_x", stage.Nx), ("N_y1", stage.N1), ("N_y2", stage.N2), ("N_h", stage.heads)):
                g.attrs[name] = float(value)
            area = (first.N1 / stage.N1) * (first.N2 / stage.N2)  # ctflow's pixel area on this stage's grid
            for n, layer in enumerate(stage.layers):
                if not math.isclose(layer.area, area, rel_tol=1e-15):
                    raise Unsupported(f"stage {s} layer {n} has pixel area {layer.area}, but the stage's grid has {area}")
                l = g.create_group(f"layers/{n}")
                value = lambda p: p.detach().double().numpy()
                l["conv_WQ"], l["conv_WK"], l["conv_WV"] = value(layer.WQ), value(layer.WK), value(layer.WV)
                if layer.embed_W is not None:
                    l["embed_W"], l["embed_b"] = value(layer.embed_W), value(layer.embed_b)
                for j, (W, b) in enumerate(zip(layer.W, layer.b), 1):
                    l[f"conv_W{j}"], l[f"b{j}"] = value(W), value(b)
                l.attrs["sigma1"], l.attrs["sigma2"] = float(layer.sigma1), float(layer.sigma2)
                l.attrs["attention_scale"] = float(layer.scale)
        if model.embedding is not None:
            conv, (_, H, W, _, _, _) = model.embedding, model.image
            if conv.stride[0] != conv.stride[1] or conv.padding[0] != conv.padding[1] or conv.dilation != (1, 1) or conv.groups != 1 \
                    or conv.kernel_size[0] != conv.kernel_size[1] or conv.padding_mode != "zeros":
                raise Unsupported("the image embedding must be a square Conv2d with equal strides and paddings, zero padding, no dilation or groups")
            g = f.create_group("cvt")
            g["embedding_W"] = conv.weight.detach().double().numpy()
            g["embedding_b"] = conv.bias.detach().double().numpy()
            g["head_W"] = model.head.weight.detach().double().numpy().T
            g["head_b"] = model.head.bias.detach().double().numpy()
            for name, v in (("stride", conv.stride[0]), ("padding", conv.padding[0]), ("image_height", H), ("image_width", W)):
                g.attrs[name] = float(v)
            g.attrs["head"] = getattr(model, "head_kind", "pixel_mean")


def export(module, path, causal):
    if type(module).__name__ == "ConvTransformer":
        if causal:
            raise Unsupported("a convolution Transformer has no causal attention")
        return export_convolutional(module, path)
    blocks, norm_first, final_norm, vit = encoder_blocks(module)
    order = "attention_ln1, mlp_ln2" if norm_first else "attention, layernorm1, mlp, layernorm2"
    with h5py.File(path, "w") as f:
        f.attrs["order"] = order
        f.attrs["causal"] = 1.0 if causal else 0.0
        f.attrs["source"] = f"torch {torch.__version__}: {type(module).__name__}"
        for n, (self_attn, linear1, linear2, act, norm1, norm2) in enumerate(blocks):
            g = f.create_group(f"layers/{n}")
            att, scale = attention(self_attn)
            for name, value in att.items():
                g[name] = value
            g.attrs["attention_scale"] = scale
            g["mlp_W1"], g["mlp_b1"] = linear(linear1)
            g["mlp_W2"], g["mlp_b2"] = linear(linear2)
            g.attrs["mlp_activation"] = act
            for k, norm in ((1, norm1), (2, norm2)):
                g[f"layernorm{k}_gamma"], g[f"layernorm{k}_beta"], g.attrs[f"layernorm{k}_eps"] = layer_norm(norm)
        if final_norm is not None:
            g = f.create_group("final_norm")
            g["gamma"], g["beta"], g.attrs["eps"] = layer_norm(final_norm)
        if vit is not None:
            g = f.create_group("vit")
            for name, value in vit.pop("attrs").items():
                g.attrs[name] = value
            for name, value in vit.items():
                g[name] = value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="module saved with torch.save")
    parser.add_argument("controls", help="controls file to write (HDF5)")
    parser.add_argument("--causal", action="store_true", help="causal (GPT-style) attention")
    args = parser.parse_args()
    partial = args.controls + ".partial"  # renamed only when complete: no half-written controls file
    try:
        try:
            module = torch.load(args.model, map_location="cpu")
        except Exception as e:  # torch.load raises whatever unpickling raises
            sys.exit(f"export_torch: cannot read '{args.model}': {type(e).__name__}: {e}")
        export(module, partial, args.causal)
        os.replace(partial, args.controls)
    except Unsupported as e:
        sys.exit(f"export_torch: cannot map exactly: {e}")
    except OSError as e:
        sys.exit(f"export_torch: cannot write '{args.controls}': {e}")
    finally:
        if os.path.exists(partial):
            os.remove(partial)


if __name__ == "__main__":
    main()
