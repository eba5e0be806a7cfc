#!/usr/bin/python3
"""Plot a training history (`ctflow -train -train_history FILE.h5`, docs/training.md).

    /usr/bin/python3 tools/plot_training.py HISTORY.h5 OUT.png [HISTORY2.h5 ...]

Left: the training and test loss per epoch (log scale); right: the training and test accuracy (when the data has
labels). Several histories are drawn together, each labelled by its file name.
"""
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    histories, out = [sys.argv[1]] + sys.argv[3:], sys.argv[2]
    fig, (loss, acc) = plt.subplots(1, 2, figsize=(10, 4))
    for path in histories:
        name = os.path.splitext(os.path.basename(path))[0]
        with h5py.File(path) as f:
            epoch = f["epoch"][...]
            loss.semilogy(epoch, f["train_loss"][...], label=f"{name}: train")
            if "test_loss" in f:
                loss.semilogy(epoch, f["test_loss"][...], "--", label=f"{name}: test")
            if "train_accuracy" in f:
                acc.plot(epoch, f["train_accuracy"][...], label=f"{name}: train")
            if "test_accuracy" in f:
                acc.plot(epoch, f["test_accuracy"][...], "--", label=f"{name}: test")
    loss.set_xlabel("epoch"), loss.set_ylabel("loss"), loss.legend(), loss.grid(True, which="both", alpha=0.3)
    acc.set_xlabel("epoch"), acc.set_ylabel("accuracy"), acc.legend(), acc.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
