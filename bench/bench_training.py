#!/usr/bin/python3
"""One training epoch of a vision Transformer: `ctflow -train` against torch, same model, same batches, same kernels.

    /usr/bin/python3 bench/bench_training.py [--cases digits fashion digits_cvt] [--fashion-samples 6000] [--epochs 3] [--rounds 3]

For each case a random ViT is made by ctflow (`-train_epochs 0`, examples/*_vit.opts' architecture) and the same
network is built in torch from that controls file (nn.TransformerEncoderLayer, pre-LN, exact GELU, batch_first, the
patch embedding as a Linear on the unfolded patches, class token, position embedding, final LayerNorm, head; b_v = 0
so that out_proj.bias is ctflow's c; the gradients of b_k and b_v are held at zero, as in
tests/training/torch_training.py). Both train with Adam (lr 1e-3, batches of 32 (digits) or 64 (Fashion-MNIST) in
the file's order, -train_shuffle 0) in float64 with one thread per rank; torch's dgemm_ is ctflow's BLIS on ctflow's
configuration (LD_PRELOAD) in one child process, and its own OpenBLAS (Debian's libopenblas, on the core ctflow's
selection would choose) in another: ctflow runs large products on BLIS and small ones on OpenBLAS (operators/gemm.hpp),
and torch can link only one, so both are timed and the ratio is taken against the faster ("torch best"). Timed: ctflow's epoch seconds from its
history file (the training steps; no test set), torch's forward + backward + step over the same batches; medians
over --epochs epochs. The first epoch's mean training loss of the two sides is printed as a check that they compute
the same thing. Ratio = ctflow / torch at one rank; 2-rank efficiency = t(1 rank) / (2 t(2 ranks)). ctflow's 1-rank and
2-rank runs alternate --rounds times, and the efficiency is taken per round (a 1-rank run against the 2-rank run right
after it), so that a disturbance of the machine during one run moves one round's figure, not the median.
Digits: tools/make_digits.py (1,438 images 8 × 8, patch 4: N_x = 5); Fashion-MNIST: the first --fashion-samples
images of tools/make_fashion_mnist.py (28 × 28, patch 7: N_x = 17). digits_cvt: the paper's convolutional Transformer
of examples/digits_cvt.opts on the digits, its start from tools/make_cvt_controls.py, in torch the ConvTransformer of
examples/conv_transformer.py on batches (ctflow solves one image at a time).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
import bench_vs_torch  # noqa: E402

CASES = {  # options file, batch, data maker, train file
    "digits": ("digits_vit.opts", 32, "make_digits.py", "digits_train.h5"),
    "fashion": ("fashion_mnist_vit.opts", 64, "make_fashion_mnist.py", "fashion_mnist_train.h5"),
    "digits_cvt": ("digits_cvt.opts", 32, "make_digits.py", "digits_train.h5"),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--fashion-samples", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="ctflow's 1-rank and 2-rank runs, alternating; efficiency per round")
    p.add_argument("--torch-only", nargs=4, metavar=("INIT", "DATA", "BATCH", "EPOCHS"), help=argparse.SUPPRESS)  # a child: torch's epochs
    p.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    p.add_argument("--blas-rate", default=None)
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench", "training"))
    args = p.parse_args()
    args.ctflow = os.path.abspath(args.ctflow)
    args.blas_rate = os.path.abspath(args.blas_rate or os.path.join(os.path.dirname(args.ctflow), "ctflow_blas_rate"))
    return args


def architecture(opts):
    """The -vit_* values of an options file."""
    values = {}
    with open(os.path.join(ROOT, "examples", opts)) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0].startswith("-vit_"):
                values[parts[0][5:]] = parts[1]
    return values


def ctflow_train(args, np_, opts, data, batch, epochs, extra):
    cmd = [args.ctflow, "-train", "-options_file", os.path.join(ROOT, "examples", opts), "-data", data, "-train_batch", str(batch),
           "-train_epochs", str(epochs), "-train_shuffle", "0", "-train_optimizer", "adam", "-train_lr", "1e-3", "-train_lr_schedule", "constant",
           "-train_checkpoint_every", "0", "-train_clip", "0", "-train_weight_decay", "0", "-train_history", "history.h5"] + extra
    if np_ > 1:
        cmd = [args.mpiexec, "-n", str(np_)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, env=bench_vs_torch.environment())
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    if epochs == 0:
        return [], []
    with h5py.File("history.h5") as f:
        return list(f["train_loss"][...]), list(f["seconds"][...])


class TorchViT:
    """ctflow's random ViT (a controls file) as torch modules."""

    def __init__(self, path):
        import torch
        from torch import nn
        with h5py.File(path) as f:
            t = lambda name: torch.from_numpy(f[name][...].copy())
            vit = f["vit"]
            self.p = int(vit.attrs["patch_size"])
            Ny = f["vit/patch_bias"].shape[0]
            self.embed = nn.Linear(f["vit/patch_embedding"].shape[0], Ny).double()
            self.embed.weight.data, self.embed.bias.data = t("vit/patch_embedding").T.contiguous(), t("vit/patch_bias")
            self.cls = nn.Parameter(t("vit/class_token"))
            self.pos = nn.Parameter(t("vit/position_embedding"))
            self.layers = []
            n = 0
            while f"layers/{n}" in f:
                g = f[f"layers/{n}"]
                Nh, _, d = g["WQ"].shape
                F = g["mlp_W1"].shape[1]
                layer = nn.TransformerEncoderLayer(Ny, Nh, F, dropout=0.0, activation="gelu", batch_first=True, norm_first=True,
                                                   layer_norm_eps=float(g.attrs["layernorm1_eps"])).double()
                a = layer.self_attn
                q, k, v = (torch.cat([torch.from_numpy(g[w][m].T.copy()) for m in range(Nh)]) for w in ("WQ", "WK", "WV"))
                a.in_proj_weight.data = torch.cat([q, k, v])
                a.in_proj_bias.data = torch.cat([torch.from_numpy(g["bQ"][...].reshape(-1).copy()), torch.zeros(2 * Ny, dtype=torch.float64)])
                mask = torch.cat([torch.ones(Ny, dtype=torch.float64), torch.zeros(2 * Ny, dtype=torch.float64)])
                a.in_proj_bias.register_hook(lambda grad, m=mask: grad * m)  # b_k, b_v stay 0: ctflow trains c = b_o
                a.out_proj.weight.data = torch.cat([torch.from_numpy(g["WO"][m].copy()) for m in range(Nh)]).T.contiguous()
                a.out_proj.bias.data = t(f"layers/{n}/c")
                layer.linear1.weight.data, layer.linear1.bias.data = t(f"layers/{n}/mlp_W1").T.contiguous(), t(f"layers/{n}/mlp_b1")
                layer.linear2.weight.data, layer.linear2.bias.data = t(f"layers/{n}/mlp_W2").T.contiguous(), t(f"layers/{n}/mlp_b2")
                for k_, norm in ((1, layer.norm1), (2, layer.norm2)):
                    norm.weight.data, norm.bias.data = t(f"layers/{n}/layernorm{k_}_gamma"), t(f"layers/{n}/layernorm{k_}_beta")
                self.layers.append(layer)
                n += 1
            self.norm = nn.LayerNorm(Ny, eps=float(f["final_norm"].attrs["eps"])).double()
            self.norm.weight.data, self.norm.bias.data = t("final_norm/gamma"), t("final_norm/beta")
            self.head = nn.Linear(Ny, f["vit/head_bias"].shape[0]).double()
            self.head.weight.data, self.head.bias.data = t("vit/head_weight").T.contiguous(), t("vit/head_bias")
        self.modules = nn.ModuleList([self.embed, self.norm, self.head] + self.layers)

    def parameters(self):
        return list(self.modules.parameters()) + [self.cls, self.pos]

    def __call__(self, images):
        import torch
        b, C, H, W = images.shape
        p = self.p
        patches = images.reshape(b, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, (H // p) * (W // p), C * p * p)
        x = torch.cat([self.cls.expand(b, 1, -1), self.embed(patches)], 1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x)[:, 0])


def torch_cvt(path):
    """A CvT controls file (tools/export_torch.py's layout, docs/controls-format.md) as examples/conv_transformer.py's
    ConvTransformer: the architecture read from the file, the parameters placed by the export's map as
    tools/gradient_to_torch.py walks it."""
    import numpy as np
    import torch
    sys.path[:0] = [os.path.join(ROOT, "examples"), os.path.join(ROOT, "tools")]
    import conv_transformer
    from gradient_to_torch import convolutional_gradients
    with h5py.File(path) as f:
        stages = [tuple(int(f[f"stages/{s}"].attrs[a]) for a in ("N_x", "N_y1", "N_y2", "N_h")) + (len(f[f"stages/{s}/layers"]),)
                  for s in range(len(f["stages"]))]
        first, cvt = f["stages/0/layers/0"], f["cvt"]
        J = sum(1 for name in first if name.startswith("conv_W") and name[6:].isdigit())
        E = cvt["embedding_W"]
        image = (E.shape[1], int(cvt.attrs["image_height"]), int(cvt.attrs["image_width"]), E.shape[-1], int(cvt.attrs["stride"]),
                 int(cvt.attrs["padding"]))
        model = conv_transformer.build(stages, J, first["conv_WQ"].shape[-1], first["conv_W1"].shape[-1] if J else 3,
                                       first["embed_W"].shape[-1] if "embed_W" in first else None, image, cvt["head_b"].shape[0],
                                       cvt.attrs.get("head", "pixel_mean"))
        with torch.no_grad():
            convolutional_gradients(model, f, lambda p, v: p.copy_(torch.from_numpy(np.asarray(v, dtype=np.float64)).reshape(p.shape)))
    return model


def torch_epochs(model, images, labels, batch, epochs):
    import torch
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, seconds = [], []
    for _ in range(epochs):
        start, total = time.perf_counter(), 0.0
        for s in range(0, len(labels), batch):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images[s:s + batch]), labels[s:s + batch])
            loss.backward()
            opt.step()
            total += float(loss) * len(labels[s:s + batch])
        seconds.append(time.perf_counter() - start)
        losses.append(total / len(labels))
    return losses, seconds


def torch_only(init, data, batch, epochs):
    """In a child process on one BLAS: torch's epoch losses and seconds as JSON on stdout."""
    import torch
    torch.set_num_threads(1)
    with h5py.File(init) as f:
        convolutional = "cvt" in f
    model = torch_cvt(init) if convolutional else TorchViT(init)
    with h5py.File(data) as f:
        images, labels = torch.from_numpy(f["images"][...]), torch.from_numpy(f["labels"][...])
    print(json.dumps(torch_epochs(model, images, labels, int(batch), int(epochs))))


def torch_child(kernels, blis, init, data, batch, epochs):
    """torch's (losses, seconds) with its dgemm_ on ctflow's BLIS (preloaded, ctflow's configuration) or on its own OpenBLAS."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", BLIS_NUM_THREADS="1")
    env.pop("LD_PRELOAD", None)
    for variable, key in (("BLIS_ARCH_TYPE", "BLIS_ARCH_TYPE"), ("OPENBLAS_CORETYPE", "OPENBLAS_CORETYPE")):
        if kernels.get(key, "unset") != "unset" and not os.environ.get(variable):
            env[variable] = kernels[key]  # what ctflow's selection chose, so that both sides run the same kernels
    if blis:
        env["LD_PRELOAD"] = kernels["library"]
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-only", init, data, str(batch), str(epochs)], capture_output=True,
                         text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"torch failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main():
    args = parse_args()
    if args.torch_only:
        torch_only(*args.torch_only)
        return
    kernels = bench_vs_torch.ctflow_kernels(args.blas_rate)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)
    print(f"CPU: {bench_vs_torch.cpu_model()}; ctflow's BLAS: {kernels['blas']}; torch's dgemm_: ctflow's BLIS (LD_PRELOAD "
          f"{kernels['library']}) and its own OpenBLAS, each in its own process; one thread per rank")
    for case in args.cases:
        opts, batch, maker, train = CASES[case]
        if not os.path.exists(train):
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", maker), "."], check=True)
        data = train
        if case == "fashion":
            data = f"fashion_{args.fashion_samples}.h5"
            with h5py.File(train) as f, h5py.File(data, "w") as g:
                g["images"], g["labels"] = f["images"][:args.fashion_samples], f["labels"][:args.fashion_samples]
        if case == "digits_cvt":  # the start of examples/digits_cvt.opts
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_cvt_controls.py"), f"{case}_init.h5", "--data", data], check=True)
        else:  # a random ViT of the options file's architecture
            ctflow_train(args, 1, opts, data, batch, 0, ["-train_out", f"{case}_init.h5"])
        with h5py.File(data) as f:
            samples = len(f["labels"])
        t_loss, t_blis = torch_child(kernels, True, f"{case}_init.h5", data, batch, args.epochs)
        _, t_own = torch_child(kernels, False, f"{case}_init.h5", data, batch, args.epochs)
        c1, c2, efficiency = [], [], []
        for r in range(args.rounds):
            c_loss, one = ctflow_train(args, 1, opts, data, batch, args.epochs, ["-controls", f"{case}_init.h5", "-train_out", f"{case}_np1.h5"])
            _, two = ctflow_train(args, 2, opts, data, batch, args.epochs, ["-controls", f"{case}_init.h5", "-train_out", f"{case}_np2.h5"])
            c1 += one
            c2 += two
            efficiency.append(statistics.median(one) / (2 * statistics.median(two)))
        TB, TO, C1, C2 = statistics.median(t_blis), statistics.median(t_own), statistics.median(c1), statistics.median(c2)
        T = min(TB, TO)
        print(f"{case}: {samples} samples, batch {batch}, architecture {architecture(opts) or 'of tools/make_cvt_controls.py (its defaults)'}")
        print(f"  first-epoch mean loss: torch {t_loss[0]:.12f}, ctflow {c_loss[0]:.12f} (relative difference {abs(t_loss[0] - c_loss[0]) / t_loss[0]:.1e})")
        if not abs(t_loss[0] - c_loss[0]) <= 1e-10 * t_loss[0]:
            sys.exit("ctflow and torch trained different things: the first epochs' losses differ")
        print(f"  epoch seconds (median of {args.epochs} epochs; ctflow over {args.rounds} rounds): torch on BLIS {TB:.3f}, on OpenBLAS {TO:.3f}; "
              f"ctflow 1 rank {C1:.3f}, 2 ranks {C2:.3f}")
        print(f"  2-rank efficiency per round: {', '.join(f'{e:.2f}' for e in efficiency)}")
        print(f"  ratio ctflow / torch best at 1 rank: {C1 / T:.2f}; 2-rank efficiency (median of the rounds): {statistics.median(efficiency):.2f}")


if __name__ == "__main__":
    main()
