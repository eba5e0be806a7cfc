#!/usr/bin/python3
"""The handwritten digits that Debian's python3-sklearn ships, as ctflow training data.

    /usr/bin/python3 tools/make_digits.py DIR

writes DIR/digits_train.h5 (1,438 images) and DIR/digits_test.h5 (359 images): /images (B, 1, 8, 8) float64, the
pixel values 0 … 16 divided by 16, and /labels (B,) int64 in 0 … 9. The split is fixed: a permutation of the
1,797 samples by numpy's default_rng(0), the first 80% for training. Nothing is downloaded
(sklearn.datasets.load_digits reads the copy inside the package).
"""
import os
import sys

import h5py
import numpy as np
from sklearn.datasets import load_digits


def write(path, images, labels):
    with h5py.File(path + ".part", "w") as f:
        f["images"] = images
        f["labels"] = labels
        f.attrs["source"] = "sklearn.datasets.load_digits (python3-sklearn), tools/make_digits.py"
    os.replace(path + ".part", path)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float64)[:, None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    ntrain = int(round(0.8 * len(labels)))
    write(os.path.join(out, "digits_train.h5"), images[order[:ntrain]], labels[order[:ntrain]])
    write(os.path.join(out, "digits_test.h5"), images[order[ntrain:]], labels[order[ntrain:]])
    print(f"wrote {ntrain} training and {len(labels) - ntrain} test images to {out}")


if __name__ == "__main__":
    main()
