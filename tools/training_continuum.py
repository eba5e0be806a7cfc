#!/usr/bin/python3
"""The continuum question of docs/training.md, measured: train a small model on the digits at a step Δt_train (1, the
discrete network, and 1/4), then integrate the trained controls with Δt_train/2, …, Δt_train/32.
  --model vit (the default): a ViT with layer-wise controls and with controls piecewise linear in t, with and without
      the time-smoothness penalty; also with the heads refined (-Nh 2 N_h);
  --model cvt: the convolutional Transformer of examples/digits_cvt.opts (from tools/make_cvt_controls.py), with the
      projections of the scheme (layer norms, ReLU) as projections and as relaxation flows (-split_projections relax,
      docs/continuum.md), in training and evaluation alike.

    /usr/bin/python3 tools/training_continuum.py WORKDIR [--model vit|cvt] [--np 2] [--epochs 8 (cvt: 10)] [--alpha 0.01]
                                                  [--train-dt 1 0.25] [--levels 6] [--ctflow build/ctflow] [--mpiexec mpirun] [--check]

Writes WORKDIR/continuum.md (a table per Δt_train), WORKDIR/continuum.png (accuracy and logit change against Δt) and
WORKDIR/continuum.json. Every run is `ctflow -train`; the evaluations are `-train_epochs 0 -train_test_logits`.
--check asserts what docs/training.md reads from the tables (the full run only).
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
from fractions import Fraction

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
# Per model: the training options, and per variant its training options and the options its evaluations also need.
ARCH = {
    "vit": ["-vit_patch", "4", "-vit_dim", "32", "-vit_heads", "4", "-vit_mlp", "64", "-vit_layers", "4", "-train_batch", "32",
            "-train_lr", "3e-3", "-train_lr_schedule", "cosine", "-train_seed", "0"],
    "cvt": ["-controls", "cvt_initial.h5", "-train_optimizer", "adam", "-train_lr", "1e-2", "-train_lr_schedule", "cosine",
            "-train_batch", "32", "-train_seed", "0"],
}
MODELS = {
    "vit": {
        "layer-wise": (["-vit_time", "constant"], []),
        "layer-wise, α": (["-vit_time", "constant", "-train_time_smoothness", None], []),
        "piecewise linear": (["-vit_time", "linear"], []),
        "piecewise linear, α": (["-vit_time", "linear", "-train_time_smoothness", None], []),
    },
    "cvt": {
        "projections": ([], []),
        "relaxation flows": (["-split_projections", "relax"], ["-split_projections", "relax"]),
    },
}
EPOCHS = {"vit": 8, "cvt": 10}


def run(args, extra):
    command = shlex.split(args.mpiexec) + ["-n", str(args.np), args.ctflow, "-train", "-data", "digits_train.h5", "-data_test", "digits_test.h5"] + extra
    print("running:", " ".join(command), flush=True)
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ctflow failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def label(dt):
    """Δt as a fraction: 1, 1/2, …"""
    return str(Fraction(dt).limit_denominator(1 << 20))


def measure(args, train_dt, k, flags, evaluation):
    """Trains variant k at train_dt, evaluates it at train_dt / 2^i and (ViT) with refined heads; one entry per
    evaluation."""
    tag = f"{k}_dt{label(train_dt).replace('/', 'over')}"
    trained = f"model{tag}.h5"
    run(args, ARCH[args.model] + flags + ["-dt", repr(train_dt), "-train_epochs", str(args.epochs), "-train_out", trained,
                                          "-train_history", f"history{tag}.h5"])
    dts = [train_dt / 2**i for i in range(args.levels)]
    rows = []
    for dt in dts + (["h"] if args.model == "vit" else []):
        logits = f"logits{tag}_{dt}.h5"
        extra = ["-dt", repr(train_dt), "-Nh", "8"] if dt == "h" else ["-dt", repr(dt)]
        run(args, ["-controls", trained, "-train_epochs", "0", "-train_out", "none", "-train_test_logits", logits] + evaluation + extra)
        with h5py.File(logits) as f:
            rows.append((dt, float(f.attrs["test_accuracy"]), float(f.attrs["test_loss"]), f["logits"][...]))
    z0 = rows[0][3]
    scale = np.abs(z0).max()
    table = []
    for i, (dt, acc, loss, z) in enumerate(rows):
        entry = {"dt": dt, "accuracy": acc, "loss": loss, "change_from_trained": float(np.abs(z - z0).max() / scale)}
        if i + 1 < len(dts):
            change = np.abs(rows[i + 1][3] - z)
            entry["change_to_half"] = float(change.max() / scale)
            entry["median_change_to_half"] = float(np.median(change.max(axis=1)) / scale)  # the typical image's
        table.append(entry)
    return table


def markdown(train_dt, tables, levels, heads):
    """The table of one Δt_train: accuracy and the logits' changes, a column per Δt (and the refined heads')."""
    t = label(train_dt)
    head = [f"Δt = {t}"] + [label(train_dt / 2**i) for i in range(1, levels)] + ([f"-Nh 8 (Δt = {t})"] if heads else [])
    lines = [f"| controls, trained at Δt = {t} | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for name, table in tables.items():
        lines.append(f"| {name}: test accuracy | " + " | ".join(f"{e['accuracy']:.4f}" for e in table) + " |")
        lines.append(f"| {name}: max \\|z(Δt) − z({t})\\| / max \\|z({t})\\| | " +
                     " | ".join(f"{e['change_from_trained']:.2e}" for e in table) + " |")
        lines.append(f"| {name}: max \\|z(Δt/2) − z(Δt)\\| / max \\|z({t})\\| | " +
                     " | ".join(f"{e['change_to_half']:.2e}" if "change_to_half" in e else "" for e in table) + " |")
        lines.append(f"| {name}: the same, median over the images of their max over the classes | " +
                     " | ".join(f"{e['median_change_to_half']:.2e}" if "change_to_half" in e else "" for e in table) + " |")
    return "\n".join(lines)


def check_cvt(results, levels):
    """What docs/training.md reads from the CvT's tables, asserted. With projections, trained at any Δt, the accuracy at
    the smallest Δt is at least 10 points below the trained step's. As relaxation flows the typical image's logits
    converge at first order (the median's last ratio in [1.7, 2.3]) and the accuracy settles (within 2 points over the
    last three levels): trained at Δt = 1 or 1/4 (--levels 9) at least 10 points below the trained step's, trained at
    1/16 (--levels 5) within 2 points of it."""
    failures = []
    for train_dt, tables in results.items():
        wanted = {"1": 9, "1/4": 9, "1/16": 5}.get(train_dt)
        if wanted is None or levels < wanted:
            continue
        table = tables["projections"]
        if table[levels - 1]["accuracy"] > table[0]["accuracy"] - 0.1:
            failures.append(f"trained at Δt = {train_dt}, projections: the accuracy at the smallest Δt did not fall by 10 points")
        relaxed = tables["relaxation flows"]
        ratio = relaxed[levels - 3]["median_change_to_half"] / relaxed[levels - 2]["median_change_to_half"]
        if train_dt != "1" and not 1.7 <= ratio <= 2.3:
            failures.append(f"trained at Δt = {train_dt}, relaxation flows: the median change's last ratio is {ratio:.2f}, not first order")
        last = [e["accuracy"] for e in relaxed[levels - 3:levels]]
        if max(last) - min(last) > 0.02:
            failures.append(f"trained at Δt = {train_dt}, relaxation flows: the accuracy did not settle ({last})")
        kept = relaxed[levels - 1]["accuracy"] >= relaxed[0]["accuracy"] - (0.02 if train_dt == "1/16" else 0.1)
        if kept != (train_dt == "1/16"):
            failures.append(f"trained at Δt = {train_dt}, relaxation flows: accuracy {relaxed[0]['accuracy']:.3f} → "
                            f"{relaxed[levels - 1]['accuracy']:.3f}, against the doc")
    return failures


def check(results, levels):
    """What docs/training.md reads from the tables, asserted: heads refine exactly; at Δt_train = 1 the Δt → 0 limit loses
    accuracy; trained at 1/4, piecewise-linear controls converge at first order to a limit that keeps it."""
    failures = []
    for train_dt, tables in results.items():
        for name, table in tables.items():
            if table[-1]["change_from_trained"] > 1e-13:
                failures.append(f"Δt_train {train_dt}, {name}: refining the heads changed the logits by {table[-1]['change_from_trained']:.2e}")
    coarse, fine = results.get("1"), results.get("1/4")
    if coarse and fine and levels >= 6:
        for name in ("layer-wise", "piecewise linear"):
            if coarse[name][levels - 1]["accuracy"] > coarse[name][0]["accuracy"] - 0.1:
                failures.append(f"trained at Δt = 1, {name}: accuracy at Δt = 1/32 did not fall by 10 points")
        pl = fine["piecewise linear"]
        ratio = pl[levels - 3]["change_to_half"] / pl[levels - 2]["change_to_half"]
        if not 1.8 <= ratio <= 2.2:
            failures.append(f"trained at Δt = 1/4, piecewise linear: the last change ratio is {ratio:.2f}, not first order")
        for name, table in fine.items():
            if table[levels - 1]["accuracy"] < table[0]["accuracy"] - 0.05:
                failures.append(f"trained at Δt = 1/4, {name}: accuracy fell from {table[0]['accuracy']:.3f} to {table[levels - 1]['accuracy']:.3f}")
    return failures


def plot(results, levels):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for (train_dt, tables), style in zip(results.items(), ["o-", "s--", "^:"]):
        for (name, table), colour in zip(tables.items(), ["C0", "C1", "C2", "C3"]):
            dts = [e["dt"] for e in table[:levels]]
            text = f"{name} (trained at {train_dt})"
            a.semilogx(dts, [e["accuracy"] for e in table[:levels]], style, color=colour, label=text)
            b.loglog(dts[:-1], [e["change_to_half"] for e in table[:levels - 1]], style, color=colour, label=text)
    last = list(results.values())[-1].get("piecewise linear")
    if last and levels > 2:
        dts = np.array([e["dt"] for e in last[:levels - 1]], dtype=float)
        b.loglog(dts, last[levels - 2]["change_to_half"] * dts / dts[-1], color="gray", lw=0.8, label="order 1")
    a.set_xlabel("Δt"), a.set_ylabel("test accuracy"), a.invert_xaxis(), a.grid(True, alpha=0.3)
    b.set_xlabel("Δt"), b.set_ylabel("max |z(Δt/2) − z(Δt)| / max |z(Δt_train)|"), b.invert_xaxis()
    b.grid(True, which="both", alpha=0.3)
    a.legend(fontsize=6), b.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig("continuum.png", dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("--model", choices=list(MODELS), default="vit")
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="default: 8 (vit), 10 (cvt)")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--train-dt", type=float, nargs="+", default=[1.0, 0.25], help="the steps to train at")
    parser.add_argument("--levels", type=int, default=6, help="evaluations at Δt_train / 2^i, i < levels")
    parser.add_argument("--ctflow", default=os.path.join(ROOT, "build", "ctflow"))
    parser.add_argument("--mpiexec", default="mpirun", help="the MPI launcher, with its options")
    parser.add_argument("--check", action="store_true", help="assert what docs/training.md reads from the tables")
    args = parser.parse_args()
    args.ctflow = os.path.abspath(args.ctflow)
    args.epochs = args.epochs or EPOCHS[args.model]
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_digits.py"), "."], check=True)
    if args.model == "cvt":
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_cvt_controls.py"), "cvt_initial.h5", "--data", "digits_train.h5"],
                       check=True)
    results = {}
    for train_dt in args.train_dt:
        tables = {}
        for k, (name, (flags, evaluation)) in enumerate(MODELS[args.model].items()):
            tables[name] = measure(args, train_dt, k, [str(args.alpha) if f is None else f for f in flags], evaluation)
        results[label(train_dt)] = tables
    with open("continuum.json", "w") as f:
        json.dump(results, f, indent=1)
    text = "\n\n".join(markdown(Fraction(t), tables, args.levels, args.model == "vit") for t, tables in results.items())
    with open("continuum.md", "w") as f:
        f.write(text + "\n")
    print(text)
    plot(results, args.levels)
    failures = (check if args.model == "vit" else check_cvt)(results, args.levels) if args.check else []
    for failure in failures:
        print("check failed:", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
