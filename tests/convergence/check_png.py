#!/usr/bin/python3
"""Runs tools/plot_convergence.py on a study table and checks that the PNG exists, is a PNG, is not tiny and
is not blank:  check_png.py PLOT_SCRIPT TABLE.csv OUT.png"""
import os
import subprocess
import sys

import matplotlib.image as mpimg

script, table, path = sys.argv[1:4]
if os.path.exists(path):
    os.remove(path)
subprocess.run([sys.executable, script, table, "-o", path], check=True)
with open(path, "rb") as f:
    if f.read(8) != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path} is not a PNG")
img = mpimg.imread(path)
if img.shape[0] < 200 or img.shape[1] < 200:
    sys.exit(f"{path} is {img.shape[1]}×{img.shape[0]} pixels, expected a full plot")
# A plot has axes, curves and text: many distinct colours, and a visible share of non-white pixels.
rgb = img[..., :3].reshape(-1, 3)
colours = len({tuple(p) for p in (rgb * 255).astype(int)})
ink = (rgb.min(axis=1) < 0.9).mean()
if colours < 20 or ink < 0.01:
    sys.exit(f"{path} looks blank: {colours} colours, {ink:.3%} non-white")
print(f"{path}: {img.shape[1]}×{img.shape[0]}, {colours} colours, {ink:.1%} non-white")
