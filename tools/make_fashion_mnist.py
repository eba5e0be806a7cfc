#!/usr/bin/python3
"""Fashion-MNIST from Debian's dataset-fashion-mnist package, as ctflow training data.

    /usr/bin/python3 tools/make_fashion_mnist.py DIR [--train N] [--test N]

writes DIR/fashion_mnist_train.h5 (the package's 60,000 training images) and DIR/fashion_mnist_test.h5 (its 10,000
test images): /images (B, 1, 28, 28) float64, the pixels 0 … 255 divided by 255, and /labels (B,) int64 in 0 … 9.
--train/--test keep the first N of each (for quick runs). The files are read from /usr/share/datasets/fashion-mnist
(IDX format, gzip); nothing is downloaded.
"""
import argparse
import gzip
import os

import h5py
import numpy as np

SOURCE = "/usr/share/datasets/fashion-mnist"


def idx(name):
    """An IDX file: magic (2 zero bytes, type 0x08 = ubyte, number of axes), sizes as big-endian int32, the data."""
    with gzip.open(os.path.join(SOURCE, name)) as f:
        data = f.read()
    assert data[0] == 0 and data[1] == 0 and data[2] == 8, name
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write(path, images, labels):
    with h5py.File(path + ".part", "w") as f:
        f["images"] = (images[:, None] / 255.0).astype(np.float64)
        f["labels"] = labels.astype(np.int64)
        f.attrs["source"] = "dataset-fashion-mnist (" + SOURCE + "), tools/make_fashion_mnist.py"
    os.replace(path + ".part", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--train", type=int, default=None, help="keep the first N training images")
    parser.add_argument("--test", type=int, default=None, help="keep the first N test images")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    for part, prefix, keep in (("train", "train", args.train), ("test", "t10k", args.test)):
        images, labels = idx(prefix + "-images-idx3-ubyte.gz"), idx(prefix + "-labels-idx1-ubyte.gz")
        write(os.path.join(args.dir, f"fashion_mnist_{part}.h5"), images[:keep], labels[:keep])
        print(f"wrote {len(labels[:keep])} {part} images to {args.dir}")


if __name__ == "__main__":
    main()
