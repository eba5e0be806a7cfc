"""The paper's convolution Transformer (§6) as float64 PyTorch modules written from its equations: the reference that
ctflow's convolutional operators are checked against (examples/torch_convolution.py) and that tools/export_torch.py
maps onto convolutional controls (docs/controls-format.md, docs/convolution.md).

u is one image per token: a tensor (N_x, N_y1, N_y2). One layer is one Δt = 1 step of the Lie scheme of §6.2,

    u ← u + W^C * u + b^C,  u ← LN(u)                                   eq. (44), (45)   (with the token embedding)
    u ← u + Σ_m Δh softmax_η(s Δy1Δy2 ⟨Q_m(x), K_m(η)⟩) V_m(η)         eq. (13) with (42)
    u ← LN(u);  v ← u;  v ← relu(v + w_j * v + b_j) for j = 1..J;  u ← LN((v + u) / 2)   eq. (14)–(17), (23)

with Q_m = W^Q_m * u etc., (W * v)(y) = Δy1 Δy2 Σ_s W(ξ_s) v(y − ξ_s) a true convolution with zero padding (torch's conv2d
correlates: the stencils go in flipped), LN the projection of eq. (22) over each token's pixels (ε = 0, scalar σ1, σ2),
s = 1/sqrt(|Ω_y|). A K-stage model runs stages of different grids joined by the multigrid transfer of
discretization/stage_transfer.hpp (pixel averages; token averages or copies), each stage's kernels at its own pixel
size; a classifier adds the strided convolutional embedding of an image and a linear head (§4.2, §6.2) on token 0's
image (head="class_token", §4.2's G) or on the pixel means of every token (head="pixel_mean", global average pooling;
since every layer ends with the layer norm, which sets each token's pixel mean to σ1, those logits do not depend on the
image).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def convolve(u, W, area):
    """area · (W * u) for images u (..., N1, N2) and stencils W (n, k1, k2): (..., n, N1, N2), zero padding."""
    k1, k2 = W.shape[-2:]
    out = F.conv2d(u.reshape(-1, 1, *u.shape[-2:]), W.flip(-2, -1)[:, None], padding=(k1 // 2, k2 // 2))
    return area * out.reshape(*u.shape[:-2], *out.shape[1:])


def layer_norm(u, sigma1, sigma2):
    """Eq. (22) for every token: mean σ1 and standard deviation σ2 over its pixels."""
    a = u.mean((-2, -1), keepdim=True)
    b = ((u - a) ** 2).mean((-2, -1), keepdim=True)
    return sigma2 * (u - a) / b.sqrt() + sigma1


class ConvLayer(nn.Module):
    """One step of the scheme on a stage's grid: pixel area `area` (Δy1 Δy2), attention scale `scale`, Δh = 1. The state
    is (N_x, N_y1, N_y2), or a batch of them (B, N_x, N_y1, N_y2)."""

    def __init__(self, Nx, heads, k, J, k_ffn=3, k_embed=None, area=1.0, scale=1.0):
        super().__init__()
        p = lambda *shape: nn.Parameter(torch.zeros(*shape, dtype=torch.float64))
        self.WQ, self.WK, self.WV = p(heads, k, k), p(heads, k, k), p(heads, k, k)
        self.embed_W = p(Nx, k_embed, k_embed) if k_embed else None
        self.embed_b = p(Nx) if k_embed else None
        self.W = nn.ParameterList([p(k_ffn, k_ffn) for _ in range(J)])
        self.b = nn.ParameterList([p(Nx) for _ in range(J)])
        self.sigma1, self.sigma2 = p(()), p(())
        self.area, self.scale = area, scale

    def forward(self, u):
        Nx = u.shape[-3]
        if self.embed_W is not None:  # term IV, eq. (44), then eq. (45)
            k = self.embed_W.shape[-1]
            conv = F.conv2d(u.reshape(-1, *u.shape[-3:]), self.embed_W.flip(-2, -1)[:, None], padding=k // 2, groups=Nx).view_as(u)
            u = layer_norm(u + self.area * conv + self.embed_b[:, None, None], self.sigma1, self.sigma2)
        Q, K, V = (convolve(u, W, self.area).flatten(-2) for W in (self.WQ, self.WK, self.WV))  # (…, N_x, N_h, N_y)
        out = torch.zeros_like(u).flatten(-2)
        for m in range(Q.shape[-2]):  # eq. (42) and (40): Δx cancels in γ
            gamma = torch.softmax(self.scale * self.area * Q[..., m, :] @ K[..., m, :].transpose(-1, -2), dim=-1)
            out = out + gamma @ V[..., m, :]
        u = layer_norm(u + out.view_as(u), self.sigma1, self.sigma2)
        v = u
        for W, b in zip(self.W, self.b):  # eq. (15), (23): translation-invariant kernels
            v = torch.relu(v + convolve(v, W[None], self.area)[..., 0, :, :] + b[:, None, None])
        if len(self.W):
            u = (v + u) / 2  # eq. (16)
        return layer_norm(u, self.sigma1, self.sigma2)


class ConvStage(nn.Module):
    """The layers of one stage, on N_x tokens of N_y1 × N_y2 pixels with N_h heads."""

    def __init__(self, Nx, N1, N2, heads, layers):
        super().__init__()
        self.Nx, self.N1, self.N2, self.heads = Nx, N1, N2, heads
        self.layers = nn.ModuleList(layers)

    def forward(self, u):
        for layer in self.layers:
            u = layer(u)
        return u


def transfer(u, to):
    """The multigrid transfer to the next stage's grid: pixel averages, then token averages or copies (any leading
    batch dimensions)."""
    Nx, N1, N2 = u.shape[-3:]
    lead = u.shape[:-3]
    u = F.avg_pool2d(u.reshape(-1, Nx, N1, N2), (N1 // to.N1, N2 // to.N2)).reshape(*lead, Nx, to.N1, to.N2)
    if to.Nx < Nx:
        return u.reshape(*lead, to.Nx, Nx // to.Nx, to.N1, to.N2).mean(-4)
    return u.repeat_interleave(to.Nx // Nx, dim=-3)


class ConvTransformer(nn.Module):
    """K stages; with `embedding` (a Conv2d from C image channels to the first stage's tokens) and `head` (a Linear) an
    image classifier: logits = head(u(T)[0] flattened) for head_kind "class_token" (a Linear from the last stage's
    pixels), head(mean over pixels of u(T)) for "pixel_mean" (a Linear from the last stage's tokens). A classifier takes
    one image (C, H, W) or a batch (B, C, H, W)."""

    def __init__(self, stages, embedding=None, head=None, head_kind="pixel_mean"):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.embedding, self.head, self.head_kind = embedding, head, head_kind

    def forward(self, x):
        if self.embedding is None:
            u = x
        else:
            u = self.embedding(x) if x.dim() == 4 else self.embedding(x[None])[0]
        for s, stage in enumerate(self.stages):
            u = stage(transfer(u, stage) if s else u)
        if self.head is None:
            return u
        return self.head(u[..., 0, :, :].flatten(-2)) if self.head_kind == "class_token" else self.head(u.mean((-2, -1)))


def build(stage_specs, J, k=3, k_ffn=3, k_embed=None, image=None, classes=0, head_kind="pixel_mean"):
    """The model's structure, its parameters to be set (randomise). stage_specs: [(N_x, N_y1, N_y2, N_h, layers)]; image: (C, H, W,
    kernel, stride, padding) for a classifier with the head `head_kind` (class_token or pixel_mean). Stage 0 has unit spacing;
    later stages the same Ω_y."""
    N1_0, N2_0 = stage_specs[0][1], stage_specs[0][2]
    scale = 1 / math.sqrt(N1_0 * N2_0)
    stages = [ConvStage(Nx, N1, N2, H, [ConvLayer(Nx, H, k, J, k_ffn, k_embed, (N1_0 / N1) * (N2_0 / N2), scale) for _ in range(L)])
              for Nx, N1, N2, H, L in stage_specs]
    embedding = head = None
    if image:
        C, _, _, kernel, stride, padding = image
        embedding = nn.Conv2d(C, stage_specs[0][0], kernel, stride, padding).double()
        Nx, N1, N2 = stage_specs[-1][:3]
        head = nn.Linear(N1 * N2 if head_kind == "class_token" else Nx, classes).double()
    model = ConvTransformer(stages, embedding, head, head_kind).eval()
    model.image = image
    return model


def randomise(model, seed):
    """Every parameter random, σ2 in [0.7, 1.3) away from 0, kernels of size O(1) against the pixel area."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.4)
            if name.endswith("sigma2"):
                p.copy_(0.7 + 0.6 * torch.rand((), generator=g, dtype=p.dtype))
    return model
