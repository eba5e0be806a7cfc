#!/usr/bin/python3
"""The continuum question of docs/training.md, measured: train a small ViT on the digits at Δt = 1, then integrate the
trained controls with Δt = 1/2, …, 1/32 (and with the heads refined, -Nh 2 N_h), for layer-wise controls and for
controls piecewise linear in t, with and without the time-smoothness penalty.

    /usr/bin/python3 tools/training_continuum.py WORKDIR [--np 2] [--epochs 8] [--alpha 0.01] [--ctflow build/ctflow]

Writes WORKDIR/continuum.md (the table), WORKDIR/continuum.png (accuracy and logit change against Δt) and
WORKDIR/continuum.json. Every run is `ctflow -train`; the evaluations are `-train_epochs 0 -train_test_logits`.
"""
import argparse
import json
import os
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
ARCH = ["-vit_patch", "4", "-vit_dim", "32", "-vit_heads", "4", "-vit_mlp", "64", "-vit_layers", "4", "-train_batch", "32",
        "-train_lr", "3e-3", "-train_lr_schedule", "cosine", "-train_seed", "0"]
DTS = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]


def run(args, extra):
    command = ["mpirun", "-n", str(args.np), args.ctflow, "-train", "-data", "digits_train.h5", "-data_test", "digits_test.h5"] + extra
    print("running:", " ".join(command), flush=True)
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ctflow failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    args = parser.parse_args()
    args.ctflow = os.path.abspath(args.ctflow)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_digits.py"), "."], check=True)
    models = {
        "layer-wise": ["-vit_time", "constant"],
        "layer-wise, α": ["-vit_time", "constant", "-train_time_smoothness", str(args.alpha)],
        "piecewise linear": ["-vit_time", "linear"],
        "piecewise linear, α": ["-vit_time", "linear", "-train_time_smoothness", str(args.alpha)],
    }
    results = {}
    for k, (name, flags) in enumerate(models.items()):
        trained = f"model{k}.h5"
        if not os.path.exists(trained):
            run(args, ARCH + flags + ["-train_epochs", str(args.epochs), "-train_out", trained, "-train_history", f"history{k}.h5"])
        rows = []
        for dt in DTS + ["h"]:
            logits = f"logits{k}_{dt}.h5"
            extra = ["-dt", "1", "-Nh", "8"] if dt == "h" else ["-dt", str(dt)]
            run(args, ["-controls", trained, "-train_epochs", "0", "-train_out", f"scratch{k}.h5", "-train_test_logits", logits] + extra)
            with h5py.File(logits) as f:
                rows.append((dt, float(f.attrs["test_accuracy"]), float(f.attrs["test_loss"]), f["logits"][...]))
        z1 = rows[0][3]
        table = []
        for i, (dt, acc, loss, z) in enumerate(rows):
            entry = {"dt": dt, "accuracy": acc, "loss": loss, "change_from_dt1": float(np.abs(z - z1).max() / np.abs(z1).max())}
            if i + 1 < len(DTS):
                entry["change_to_half"] = float(np.abs(rows[i + 1][3] - z).max() / np.abs(z1).max())
            table.append(entry)
        results[name] = table
    with open("continuum.json", "w") as f:
        json.dump(results, f, indent=1)
    lines = ["| controls | Δt = 1 | 1/2 | 1/4 | 1/8 | 1/16 | 1/32 | -Nh 8 (Δt = 1) |", "|---|---|---|---|---|---|---|---|"]
    for name, table in results.items():
        lines.append(f"| {name}: test accuracy | " + " | ".join(f"{e['accuracy']:.4f}" for e in table) + " |")
        lines.append(f"| {name}: max \\|z(Δt) − z(1)\\| / max \\|z(1)\\| | " + " | ".join(f"{e['change_from_dt1']:.2e}" for e in table) + " |")
        lines.append(f"| {name}: max \\|z(Δt/2) − z(Δt)\\| / max \\|z(1)\\| | " + " | ".join(f"{e['change_to_half']:.2e}" if "change_to_half" in e else "" for e in table) + " |")
    with open("continuum.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, table in results.items():
        dts = [e["dt"] for e in table[:len(DTS)]]
        a.semilogx(dts, [e["accuracy"] for e in table[:len(DTS)]], "o-", label=name)
        b.loglog(dts[:-1], [e["change_to_half"] for e in table[:len(DTS) - 1]], "o-", label=name)
    a.set_xlabel("Δt"), a.set_ylabel("test accuracy"), a.invert_xaxis(), a.legend(), a.grid(True, alpha=0.3)
    b.set_xlabel("Δt"), b.set_ylabel("max |z(Δt/2) − z(Δt)| / max |z(1)|"), b.invert_xaxis(), b.legend(), b.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig("continuum.png", dpi=120)


if __name__ == "__main__":
    main()
