#!/usr/bin/python3
"""Map a ctflow gradient file back onto the parameters of the PyTorch module it was exported from.

    /usr/bin/python3 tools/gradient_to_torch.py MODEL.pt GRADIENT.h5 [--save GRADS.pt]

GRADIENT.h5 is what `ctflow -controls CONTROLS.h5 ... -loss ... -gradient GRADIENT.h5` wrote for CONTROLS.h5 =
tools/export_torch.py MODEL.pt: dL/dθ in the layout of the controls file (docs/controls-format.md). The export is a
linear map of torch's parameters onto ctflow's controls (docs/torch-mapping.md), so the gradient with respect to a
torch parameter is the transpose of that map applied to ctflow's gradient:

  in_proj_weight   rows m d … (m + 1) d of W_q, W_k, W_v = WQ[m]^T, WK[m]^T, WV[m]^T
  in_proj_bias     b_q = bQ; b_k = 0 (a key bias cancels in the softmax); b_v = dc · W_o   (c = b_v W_o^T + b_o)
  out_proj         weight: columns m d … (m + 1) d = WO[m]^T, plus dc ⊗ b_v;  bias = dc
  linear1/2        weight = mlp_W1^T, mlp_W2^T; bias = mlp_b1, mlp_b2
  norm1/2, final   weight = gamma, bias = beta
  ViT              conv_proj.weight = patch_embedding^T reshaped, class_token, pos_embedding, heads.0 = head_weight^T
  ConvTransformer  (examples/conv_transformer.py, paper §6) the stencils, biases and sigma1/2 of every layer as they are
                   (/stages/<s>/layers/<n>/conv_WQ …), embedding = /cvt/embedding_W, _b, head.weight = head_W^T, head.bias

Prints one line per parameter (name, shape, max |grad|), or saves {name: tensor} with --save.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torch import encoder_blocks  # noqa: E402  (the same walk over the module as the export)


def _names(module):
    return {id(p): name for name, p in module.named_parameters()}


def convolutional_gradients(module, f, put):
    """The ConvTransformer's parameters: the export writes them as they are (stencils in ctflow's convention)."""
    for s, stage in enumerate(module.stages):
        for n, layer in enumerate(stage.layers):
            g = f[f"stages/{s}/layers/{n}"]
            for param, name in ((layer.WQ, "conv_WQ"), (layer.WK, "conv_WK"), (layer.WV, "conv_WV"),
                                (layer.embed_W, "embed_W"), (layer.embed_b, "embed_b")):
                if param is not None:
                    put(param, g[name][...])
            for j, (W, b) in enumerate(zip(layer.W, layer.b), 1):
                put(W, g[f"conv_W{j}"][...])
                put(b, g[f"b{j}"][...])
            put(layer.sigma1, g.attrs["sigma1"])
            put(layer.sigma2, g.attrs["sigma2"])
    if module.embedding is not None:
        put(module.embedding.weight, f["cvt/embedding_W"][...])
        put(module.embedding.bias, f["cvt/embedding_b"][...])
        put(module.head.weight, f["cvt/head_W"][...].T)
        put(module.head.bias, f["cvt/head_b"][...])


def torch_gradients(module, gradient_file):
    """{torch parameter name: numpy gradient} for the parameters the export maps."""
    names = _names(module)
    grads = {}

    def put(param, value):
        if param is not None:
            grads[names[id(param)]] = np.asarray(value, dtype=np.float64).reshape(tuple(param.shape))

    if type(module).__name__ == "ConvTransformer":
        with h5py.File(gradient_file, "r") as f:
            convolutional_gradients(module, f, put)
        return grads
    blocks, _, final_norm, vit = encoder_blocks(module)
    with h5py.File(gradient_file, "r") as f:
        for n, (mha, linear1, linear2, _, norm1, norm2) in enumerate(blocks):
            g = f[f"layers/{n}"]
            E, H = mha.embed_dim, mha.num_heads
            Wo = mha.out_proj.weight.detach().double().numpy()
            bv = mha.in_proj_bias.detach().double().numpy()[2 * E:] if mha.in_proj_bias is not None else np.zeros(E)
            dc = g["c"][...]
            win = np.concatenate([np.concatenate([g[k][m].T for m in range(H)]) for k in ("WQ", "WK", "WV")])
            put(mha.in_proj_weight, win)
            put(mha.in_proj_bias, np.concatenate([g["bQ"][...].reshape(E), np.zeros(E), dc @ Wo]))
            put(mha.out_proj.weight, np.concatenate([g["WO"][m].T for m in range(H)], axis=1) + np.outer(dc, bv))
            put(mha.out_proj.bias, dc)
            put(linear1.weight, g["mlp_W1"][...].T)
            put(linear1.bias, g["mlp_b1"][...])
            put(linear2.weight, g["mlp_W2"][...].T)
            put(linear2.bias, g["mlp_b2"][...])
            for k, norm in ((1, norm1), (2, norm2)):
                put(norm.weight, g[f"layernorm{k}_gamma"][...])
                put(norm.bias, g[f"layernorm{k}_beta"][...])
        if final_norm is not None:
            put(final_norm.weight, f["final_norm/gamma"][...])
            put(final_norm.bias, f["final_norm/beta"][...])
        if vit is not None:
            put(module.conv_proj.weight, f["vit/patch_embedding"][...].T)
            put(module.conv_proj.bias, f["vit/patch_bias"][...])
            put(module.class_token, f["vit/class_token"][...])
            put(module.encoder.pos_embedding, f["vit/position_embedding"][...])
            put(module.heads[0].weight, f["vit/head_weight"][...].T)
            put(module.heads[0].bias, f["vit/head_bias"][...])
    return grads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="module saved with torch.save (the one tools/export_torch.py exported)")
    parser.add_argument("gradient", help="ctflow's -gradient file")
    parser.add_argument("--save", help="save {name: tensor} here with torch.save")
    args = parser.parse_args()
    grads = torch_gradients(torch.load(args.model, map_location="cpu"), args.gradient)
    if args.save:
        torch.save({k: torch.from_numpy(v) for k, v in grads.items()}, args.save)
    for name, g in grads.items():
        print(f"{name:50s} {str(tuple(g.shape)):16s} max|grad| {np.abs(g).max():.6e}")


if __name__ == "__main__":
    main()
