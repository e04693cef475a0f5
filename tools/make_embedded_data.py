#!/usr/bin/env python3
"""Writes the embedded Fashion-MNIST subset under data/fashion-mnist-subset/ from the full dataset.

Run with /usr/bin/python3 tools/make_embedded_data.py [SOURCE_DIR]; SOURCE_DIR defaults to Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Standard library only.

Selection rule (fixed, so anyone can re-derive the files): walk each split in its original order and
keep an image while its class has fewer than the quota: 500 per class from the training set
(5,000 images) and 100 per class from the test set (1,000 images). Kept images stay in their original
relative order. The output is the same IDX format as the originals (gzipped, written with mtime 0 and
no file name so the bytes, and hence the SHA-256 in the README, are reproducible).
"""
import gzip
import hashlib
import io
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT_DIR = os.path.join(ROOT, "data", "fashion-mnist-subset")
DEFAULT_SOURCE = "/usr/share/datasets/fashion-mnist"
TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 100
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Returns (dims, payload bytes) of an unsigned-byte IDX file, gzipped or raw."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = list(struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim]))
    payload = raw[4 + 4 * ndim :]
    size = 1
    for d in dims:
        size *= d
    if len(payload) != size:
        sys.exit(f"{path}: header says {size} bytes of data, file has {len(payload)}")
    return dims, payload


def find(source, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(source, name)
        if os.path.exists(path):
            return path
    sys.exit(f"make_embedded_data: {stem}(.gz) not found in {source}")


def select(labels, per_class):
    counts = [0] * len(CLASSES)
    keep = []
    for i, label in enumerate(labels):
        if counts[label] < per_class:
            counts[label] += 1
            keep.append(i)
    if any(c != per_class for c in counts):
        sys.exit(f"make_embedded_data: not enough images per class: {counts}")
    return keep


def write_idx_gz(path, dims, payload):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of anything that changes between runs.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(header + payload)
    data = buf.getvalue()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest(), len(data)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_split(source, prefix, per_class, results, sources):
    img_path = find(source, f"{prefix}-images-idx3-ubyte")
    lbl_path = find(source, f"{prefix}-labels-idx1-ubyte")
    sources.extend([img_path, lbl_path])
    img_dims, images = read_idx(img_path)
    lbl_dims, labels = read_idx(lbl_path)
    if img_dims[0] != lbl_dims[0]:
        sys.exit(f"make_embedded_data: {img_path} has {img_dims[0]} images, {lbl_path} {lbl_dims[0]} labels")
    keep = select(labels, per_class)
    stride = img_dims[1] * img_dims[2]
    out_images = b"".join(images[i * stride : (i + 1) * stride] for i in keep)
    out_labels = bytes(labels[i] for i in keep)
    for stem, dims, payload in (
        (f"{prefix}-images-idx3-ubyte.gz", [len(keep), img_dims[1], img_dims[2]], out_images),
        (f"{prefix}-labels-idx1-ubyte.gz", [len(keep)], out_labels),
    ):
        digest, size = write_idx_gz(os.path.join(OUT_DIR, stem), dims, payload)
        results.append((stem, dims, size, digest))
    return keep


README = """# Embedded Fashion-MNIST subset

A fixed, balanced subset of [Fashion-MNIST](https://github.com/zalandoresearch/fashion-mnist) shipped
with convkit so that training and `convkit study` run with no download. The full dataset is used instead
when it is found (`--data DIR`, or Debian's `dataset-fashion-mnist` in `/usr/share/datasets/fashion-mnist`).

## Selection rule

Made by `tools/make_embedded_data.py` from the original IDX files. Each split is walked in its
original order and an image is kept while its class has fewer than the quota:

| split | quota per class | images | original indices covered |
|---|---|---|---|
| train | {train_quota} | {train_n} | 0 .. {train_last} |
| test | {test_quota} | {test_n} | 0 .. {test_last} |

Kept images keep their original relative order. Classes (label 0..9): {classes}.

## Files

Same format as the originals (IDX, unsigned bytes, gzipped; written with gzip mtime 0 and no file
name, so re-running the tool reproduces the bytes exactly).

| file | dims | bytes | SHA-256 |
|---|---|---|---|
{rows}

Source files (Debian package `dataset-fashion-mnist`):

| file | SHA-256 |
|---|---|
{source_rows}

## License

Fashion-MNIST is Copyright (c) 2017 Zalando SE, released under the MIT License:

> Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
> associated documentation files (the "Software"), to deal in the Software without restriction,
> including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense,
> and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so,
> subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or substantial
> portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
> LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN
> NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
> WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
> SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Xiao, Rasul, Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
Algorithms. arXiv:1708.07747, 2017.
"""


def main(argv):
    source = argv[0] if argv else DEFAULT_SOURCE
    os.makedirs(OUT_DIR, exist_ok=True)
    results = []
    sources = []
    train_keep = make_split(source, "train", TRAIN_PER_CLASS, results, sources)
    test_keep = make_split(source, "t10k", TEST_PER_CLASS, results, sources)
    rows = "\n".join(f"| `{name}` | {dims} | {size} | `{digest}` |" for name, dims, size, digest in results)
    source_rows = "\n".join(f"| `{os.path.basename(p)}` | `{sha256_file(p)}` |" for p in sources)
    text = README.format(
        train_quota=TRAIN_PER_CLASS,
        train_n=len(train_keep),
        train_last=train_keep[-1],
        test_quota=TEST_PER_CLASS,
        test_n=len(test_keep),
        test_last=test_keep[-1],
        classes=", ".join(f"{i} {name}" for i, name in enumerate(CLASSES)),
        rows=rows,
        source_rows=source_rows,
    )
    with open(os.path.join(OUT_DIR, "README.md"), "w") as f:
        f.write(text)
    for name, dims, size, digest in results:
        print(f"{name}: dims {dims}, {size} bytes, sha256 {digest}")


if __name__ == "__main__":
    main(sys.argv[1:])
