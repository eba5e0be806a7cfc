#!/usr/bin/python3
"""tools/export_torch.py refuses what it cannot map exactly, with a message and a non-zero exit, and
leaves no controls file behind: an unsupported activation, the tanh-approximate GELU, a module that is
not an encoder, mixed pre-/post-LN layers, and an unreadable model file.

    export_refusals.py WORKDIR
"""
import os
import subprocess
import sys

import torch
from torch import nn

EXPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "export_torch.py")


def refused(model, expect):
    torch.save(model, "model.pt")
    run = subprocess.run([sys.executable, EXPORT, "model.pt", "controls.h5"], capture_output=True, text=True)
    ok = run.returncode != 0 and expect in run.stderr and not os.path.exists("controls.h5")
    print(("ok   " if ok else "FAIL ") + expect + ": " + run.stderr.strip())
    return ok


def main():
    os.makedirs(sys.argv[1], exist_ok=True)
    os.chdir(sys.argv[1])
    layer = lambda **kw: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, **kw)
    mixed = nn.TransformerEncoder(layer(), 2, enable_nested_tensor=False)
    mixed.layers[1].norm_first = True
    results = [
        refused(layer(activation=torch.tanh), "has no exact counterpart"),
        refused(layer(activation=nn.GELU(approximate="tanh")), "has no exact counterpart"),
        refused(nn.Linear(4, 4), "is not an nn.TransformerEncoderLayer"),
        refused(mixed, "mix pre-LN and post-LN"),
    ]
    with open("model.pt", "w") as f:
        f.write("not a torch file")
    run = subprocess.run([sys.executable, EXPORT, "model.pt", "controls.h5"], capture_output=True, text=True)
    results.append(run.returncode != 0 and "cannot read" in run.stderr and not os.path.exists("controls.h5"))
    print(("ok   " if results[-1] else "FAIL ") + "unreadable model: " + run.stderr.strip())
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
