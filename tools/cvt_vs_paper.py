#!/usr/bin/python3
"""Measures how far the paper's convolution Transformer block (§6.1–6.2, as ctflow computes it) is from the block of
Wu et al.'s CvT [54]: a random float64 CvT block is evaluated, then one of its choices at a time is replaced by the
paper's, and the relative max-norm distance of the output from CvT's is printed as a Markdown table (used in
docs/convolution.md).

    /usr/bin/python3 tools/cvt_vs_paper.py [--channels 8] [--pixels 6] [--heads 2] [--seed 0]

CvT's block, on C channels of an H × W image, tokens = pixels (z: (H W, C)):
    h = LN_c(z);  q, k, v = Linear_c(BN(dwconv_k(h)))           convolutional projection: a k × k kernel per channel,
    z = z + Linear_c(MHSA over the H W pixels (q, k, v))           batch norm (eval: affine), a pointwise linear layer
    z = z + Linear_c(GELU(Linear_c(LN_c(z))))                      the MLP over channels, pre-LN, summed skips
The paper's block (examples/conv_transformer.py, ConvLayer without the token embedding), tokens = channels:
    u ← LN_y(u + Σ_m softmax over channels(⟨W^Q_m * u, W^K_m * u⟩_Ωy / sqrt|Ω_y|) (W^V_m * u))
    v = u;  v ← relu(v + w_j * v + b_j);  u ← LN_y((v + u)/2)       one stencil per head for all channels, post-LN over
                                                                    the pixels, convolutional feed-forward, averaged skip
Each row replaces one choice of CvT by the paper's (weights carried over where they exist, the paper's new weights
random); the last rows replace all of them, and check that this is the paper's block of the reference module.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import conv_transformer  # noqa: E402


def cvt_block(u, p, paper=()):
    """CvT's block on u (C, H, W), with the paper's choices in `paper` (a set of names) instead of CvT's."""
    C, H, W = u.shape
    heads, k = p["heads"], p["k"]
    area, scale_y = 1.0, 1 / (H * W) ** 0.5
    ln_c = lambda t: F.layer_norm(t, (C,), p["ln_g"], p["ln_b"])  # over channels, per pixel
    ln_y = lambda t: conv_transformer.layer_norm(t, p["sigma1"], p["sigma2"])  # eq. (22): over pixels, per channel
    img = lambda z: z.T.reshape(z.shape[1], H, W)  # (pixels, channels) → (channels, H, W)
    tok = lambda t: t.reshape(t.shape[0], -1).T

    def heads_qkv(t, name):
        """Per head m: (the head's tensor (channels, H, W), the channels of the output it writes; None: all, summed)."""
        if "shared_stencil" in paper:  # eq. (42): one stencil per head for all channels, no channel mixing; heads summed
            return [(conv_transformer.convolve(t, p["W" + name][m:m + 1], area)[:, 0], None) for m in range(heads)]
        d = F.conv2d(t[None], p["dw_" + name][:, None], padding=k // 2, groups=C)[0] * p["bn_a_" + name][:, None, None] \
            + p["bn_b_" + name][:, None, None]
        d = img(F.linear(tok(d), p["pw_" + name], p["pwb_" + name]))
        return [(d[m * C // heads:(m + 1) * C // heads], slice(m * C // heads, (m + 1) * C // heads)) for m in range(heads)]

    def attention(t):
        out = torch.zeros_like(t)
        for (q, sl), (kk, _), (v, _) in zip(heads_qkv(t, "q"), heads_qkv(t, "k"), heads_qkv(t, "v")):
            if "channels_as_tokens" in paper:  # tokens = channels: scores over the pixels, softmax over channels
                o = (torch.softmax((q.flatten(1) @ kk.flatten(1).T) * scale_y, 1) @ v.flatten(1)).view_as(q)
            else:  # tokens = pixels, features = the head's channels
                o = img(torch.softmax(tok(q) @ tok(kk).T / q.shape[0] ** 0.5, 1) @ tok(v))
            if sl is None:
                out = out + o
            else:
                out[sl] = o
        return out if "shared_stencil" in paper else img(F.linear(tok(out), p["o"], p["ob"]))

    def mlp(t):
        if "conv_ffn" in paper:  # the paper's feed-forward: convolutions over the pixels per channel, ReLU, eq. (23)
            v = t
            for W, b in zip(p["Wj"], p["bj"]):
                v = torch.relu(v + conv_transformer.convolve(v, W[None], area)[:, 0] + b[:, None, None])
            return v - t  # the block's increment: (v + t)/2 below is the averaged skip
        return img(F.linear(F.gelu(F.linear(tok(t), p["m1"], p["m1b"])), p["m2"], p["m2b"]))

    norm = (lambda t: ln_y(t)) if "ln_pixels" in paper else (lambda t: img(ln_c(tok(t))))
    if "post_ln_average" in paper:  # eq. (13)–(17): u + A(u), LN; (v + u)/2, LN
        u = norm(u + attention(u))
        return norm(u + mlp(u) / 2)
    u = u + attention(norm(u))
    return u + mlp(norm(u))


def params(C, heads, k, seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.4
    p = {"heads": heads, "k": k, "ln_g": 1 + r(C) / 2, "ln_b": r(C), "o": r(C, C), "ob": r(C), "m1": r(4 * C, C), "m1b": r(4 * C),
         "m2": r(C, 4 * C), "m2b": r(C), "sigma1": float(r(())), "sigma2": 0.9, "Wj": [r(k, k), r(k, k)], "bj": [r(C), r(C)]}
    for n in ("q", "k", "v"):
        p.update({"dw_" + n: r(C, k, k), "bn_a_" + n: 1 + r(C) / 2, "bn_b_" + n: r(C), "pw_" + n: r(C, C), "pwb_" + n: r(C), "W" + n: r(heads, k, k)})
    return p


ROWS = [
    ("none (CvT's block)", ()),
    ("Q, K, V: one stencil per head for all channels, no batch norm, no pointwise or output projection, heads summed, eq. (42)",
     ("shared_stencil",)),
    ("attention over the channels (tokens = channels), scores over the pixels, scale 1/sqrt(\\|Ω_y\\|)", ("channels_as_tokens",)),
    ("layer norm over each channel's pixels (eq. (22), scalar σ1, σ2) instead of over each pixel's channels", ("ln_pixels",)),
    ("feed-forward: J = 2 convolutions over the pixels with ReLU (eq. (23)) instead of the channel MLP", ("conv_ffn",)),
    ("post-LN with the averaged skip of eq. (16) instead of pre-LN with summed skips", ("post_ln_average",)),
]
ALL = ("shared_stencil", "channels_as_tokens", "ln_pixels", "conv_ffn", "post_ln_average")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--pixels", type=int, default=6)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    C, N, heads, k = args.channels, args.pixels, args.heads, 3
    p = params(C, heads, k, args.seed)
    u = torch.randn(C, N, N, generator=torch.Generator().manual_seed(args.seed + 1), dtype=torch.float64)
    with torch.no_grad():
        ref = cvt_block(u, p)
        dist = lambda out: float((out - ref).abs().max() / ref.abs().max())
        print("| CvT's choice replaced by the paper's | relative max-norm distance from CvT's block |")
        print("|---|---|")
        for label, paper in ROWS:
            print(f"| {label} | {dist(cvt_block(u, p, set(paper))):.2e} |")
        every = cvt_block(u, p, set(ALL))
        print(f"| all of the above: the paper's block | {dist(every):.2e} |")
        # The same weights in the reference module that ctflow reproduces (examples/torch_convolution.py).
        layer = conv_transformer.ConvLayer(C, heads, k, 2, k, None, 1.0, 1 / N)
        for name, value in (("WQ", p["Wq"]), ("WK", p["Wk"]), ("WV", p["Wv"])):
            getattr(layer, name).data.copy_(value)
        for j in range(2):
            layer.W[j].data.copy_(p["Wj"][j]), layer.b[j].data.copy_(p["bj"][j])
        layer.sigma1.data.fill_(p["sigma1"]), layer.sigma2.data.fill_(p["sigma2"])
        check = float((layer(u) - every).abs().max() / every.abs().max())
    print(f"\n(the last row's block against examples/conv_transformer.py's ConvLayer, which ctflow reproduces: {check:.1e})")
    if not check <= 1e-13:
        sys.exit("the replaced block is not the paper's")


if __name__ == "__main__":
    main()
