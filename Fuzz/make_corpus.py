#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Fuzz/<target>/corpus/), valid and hostile files.

Run offline (needs numpy and safetensors: python3 -m venv v && v/bin/pip install numpy
safetensors && v/bin/python Fuzz/make_corpus.py) and commit the files; neither the fuzzer nor
the tests call Python. The hostile-file tests (Tests/*/Hostile*Tests.swift) read some of these
files by name, so keep the names stable. The entries named issue12-* are the files of issue 12
that crashed, hung or allocated gigabytes before the readers were hardened.
"""
import gzip
import io
import json
import os
import struct
import zlib

import numpy as np
import safetensors.numpy

root = os.path.dirname(os.path.abspath(__file__))


def folder(target):
    path = os.path.join(root, target, "corpus")
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        os.remove(os.path.join(path, name))
    return path


def write(path, name, data):
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def gz(data):
    # mtime=0 so that the bytes do not change from one run to the next.
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(data)
    return out.getvalue()


# --- .npy -------------------------------------------------------------------------------------
npy = folder("npy")


def saved(array, **kwargs):
    out = io.BytesIO()
    np.save(out, array, **kwargs)
    return out.getvalue()


def with_version(array, version):
    out = io.BytesIO()
    np.lib.format.write_array(out, array, version=version)
    return out.getvalue()


def npy_header(text, version=1):
    body = text.encode()
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(body)) + body


rng = np.random.default_rng(12)
write(npy, "valid-f4-2x3.npy", saved(rng.standard_normal((2, 3)).astype("<f4")))
write(npy, "valid-f8-scalar.npy", saved(np.float64(1.5)))
write(npy, "valid-u1-labels.npy", saved(np.array([3, 1, 4, 1, 5], dtype="|u1")))
write(npy, "valid-i8.npy", saved(np.array([-1, 0, 1 << 50], dtype="<i8")))
write(npy, "valid-f8-0x3.npy", saved(np.zeros((0, 3))))
write(npy, "valid-v2.npy", with_version(np.arange(4.0), (2, 0)))
write(npy, "valid-v3.npy", with_version(np.arange(4.0), (3, 0)))
# Issue 12, item 4: a layer of shape (0, 100000) holds nothing but implies a 100000-wide network.
write(npy, "issue12-shape-0x100000.npy", saved(np.zeros((0, 100000))))
write(npy, "fortran-order.npy", saved(np.asfortranarray(np.arange(6.0).reshape(2, 3))))
write(npy, "big-endian.npy", saved(np.arange(3, dtype=">f8")))
write(npy, "float16.npy", saved(np.arange(3, dtype="<f2")))
# Issue 12, item 12: a structured dtype was "malformed header".
write(npy, "issue12-structured.npy", saved(np.zeros(2, dtype=[("x", "<f4"), ("y", "<i8")])))
write(npy, "object-pickle.npy", saved(np.array([{"a": 1}, None], dtype=object), allow_pickle=True))
write(npy, "truncated.npy", saved(np.arange(8.0))[:-5])
write(npy, "trailing.npy", saved(np.arange(2.0)) + b"\x00\x01")
write(npy, "header-length-2p63.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\x7f" + b"{}")
write(npy, "shape-overflow.npy",
      npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (999999999999999999, 999999999999999999), }\n"))
write(npy, "shape-0-overflow.npy",
      npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967295, 4294967295, 4294967295), }\n"))
write(npy, "shape-too-large.npy",
      npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100), }\n"))

# The writers' limits: numpy's 64 axes read and round-trip; a rank of 30000 needs format 2.0's
# header (90 kB), which the reader takes and the 1.0 writer refuses with a typed error.
write(npy, "rank-64.npy", npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1, " * 63 + "1), }\n") + struct.pack("<d", 2.5))
write(npy, "rank-30000-v2.npy", npy_header("{'descr': '|u1', 'fortran_order': False, 'shape': (" + "1, " * 29999 + "1), }\n", version=2) + b"\x07")

# --- safetensors -------------------------------------------------------------------------------
st = folder("safetensors")


def st_bytes(header, data, pad=True):
    body = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body + data


def st_raw(header_text, data):
    body = header_text.encode()
    return struct.pack("<Q", len(body)) + body + data


def crc(data):
    return "%08x" % (zlib.crc32(data) & 0xFFFFFFFF)


w = np.arange(6, dtype="<f4").reshape(2, 3)
b = np.array([0.5, -0.5], dtype="<f8")
write(st, "valid-python.safetensors", safetensors.numpy.save({"layers.0.weight": w, "layers.0.bias": b},
                                                              metadata={"activation": "tanh"}))
write(st, "valid-empty-tensor.safetensors", safetensors.numpy.save({"empty": np.zeros((0, 3), dtype="<f4"),
                                                                    "x": np.ones(2, dtype="<f8")}))
write(st, "valid-no-tensors.safetensors", safetensors.numpy.save({}, metadata={"format": "pt"}))
# As Isometry writes them: a CRC-32 per tensor in the metadata.
wb, bb = w.tobytes(), b.tobytes()
with_crc = {"layers.0.bias": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
            "layers.0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [16, 40]},
            "__metadata__": {"crc32.layers.0.bias": crc(bb), "crc32.layers.0.weight": crc(wb), "sigma": "1.0"}}
write(st, "valid-with-crc.safetensors", st_bytes(with_crc, bb + wb))
flipped = bytearray(wb)
flipped[5] ^= 0x10
write(st, "crc-mismatch.safetensors", st_bytes(with_crc, bb + bytes(flipped)))
bad_crc = json.loads(json.dumps(with_crc))
bad_crc["__metadata__"]["crc32.layers.0.weight"] = "xyz"
write(st, "crc-malformed.safetensors", st_bytes(bad_crc, bb + wb))
# Issue 12, item 8: what the reference implementation refuses and the reader accepted.
write(st, "issue12-overlap.safetensors", st_bytes(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)))
write(st, "issue12-duplicate-key.safetensors", st_raw(
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    bytes(4)))
write(st, "issue12-gap.safetensors", st_bytes(
    {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
     "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, bytes(12)))
write(st, "issue12-trailing.safetensors", st_bytes(
    {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(8)))
write(st, "issue12-true-extent.safetensors", st_raw(
    '{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', bytes(4)))
write(st, "issue12-float-extent.safetensors", st_raw(
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}', bytes(4)))
write(st, "negative-extent.safetensors", st_raw(
    '{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', bytes(4)))
write(st, "size-mismatch.safetensors", st_bytes(
    {"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)))
write(st, "past-end.safetensors", st_bytes(
    {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)))
write(st, "header-past-end.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
write(st, "shape-overflow.safetensors", st_bytes(
    {"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 0]}}, b""))
# Issue 12, item 4: a (0, 100000) layer; the reader accepts it, commands must check the width.
write(st, "issue12-shape-0x100000.safetensors", safetensors.numpy.save({"layers.0.weight": np.zeros((0, 100000), dtype="<f4")}))
# Fuzzer findings: valid containers whose classifier has no room for a feature and a class
# (the default feature count came out below 1 and reached a fatalError before the check).
write(st, "classifier-classes-equal-width.safetensors", st_bytes(
    {"layers.0.weight": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 36]},
     "__metadata__": {"classes": "3"}}, np.eye(3, dtype="<f4").tobytes()))
write(st, "classifier-1x1-no-metadata.safetensors", st_bytes(
    {"layers.0.weight": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}}, np.ones(1, dtype="<f4").tobytes()))
write(st, "unsupported-dtype.safetensors", safetensors.numpy.save({"a": np.arange(3, dtype="<i8")}))
write(st, "metadata-not-strings.safetensors", st_raw('{"__metadata__":{"epoch":3}}', b""))
write(st, "not-json.safetensors", st_raw('{"a":', b""))
write(st, "deep-nesting.safetensors", st_raw('{"a":' + "[" * 200 + "]" * 200 + "}", b""))

# A tensor named __metadata__ (the writer refuses the name; the reader refuses the file), and the
# headers that a tree of values made cost 15 times their size: tiny arrays in an ignored field,
# a shape of many ones.
write(st, "metadata-as-tensor.safetensors", st_raw(
    '{"__metadata__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)))
write(st, "tiny-values-ignored-field.safetensors", st_raw(
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":[' + ",".join(["[1]"] * 50000) + ']}}', bytes(4)))
write(st, "shape-many-ones.safetensors", st_raw(
    '{"a":{"dtype":"F32","data_offsets":[0,4],"shape":[' + ",".join(["1"] * 100000) + ']}}', bytes(4)))

# --- IDX ---------------------------------------------------------------------------------------
idx = folder("idx")


def idx_bytes(shape, data):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + bytes(data)


images = rng.integers(0, 256, size=(3, 4, 4), dtype=np.uint8)
labels = np.array([0, 2, 9], dtype=np.uint8)
write(idx, "valid-images.idx", idx_bytes([3, 4, 4], images.tobytes()))
write(idx, "valid-labels.idx", idx_bytes([3], labels.tobytes()))
write(idx, "valid-images.idx.gz", gz(idx_bytes([3, 4, 4], images.tobytes())))
write(idx, "valid-labels.idx.gz", gz(idx_bytes([3], labels.tobytes())))
write(idx, "valid-empty-images.idx", idx_bytes([0, 28, 28], b""))
write(idx, "label-out-of-range.idx", idx_bytes([2], [3, 12]))
# Issue 12, item 3: 20 bytes whose product is 0 but whose image size overflows.
write(idx, "issue12-zero-count-huge-images.idx", idx_bytes([0, 2**32 - 1, 2**32 - 1, 2**32 - 1], b""))
# Issue 12, item 4: a small .gz announcing two 3000 x 3000 images (18 MB) with a fraction of them.
write(idx, "issue12-3000x3000-truncated.idx.gz", gz(idx_bytes([2, 3000, 3000], bytes(1 << 20))[:1 << 20]))
# Issue 12, item 6, in small: a header announcing 4 bytes followed by 1 MB of zeros (the real
# bomb is built by the tests).
write(idx, "issue12-bomb-small.idx.gz", gz(idx_bytes([1, 2, 2], bytes(4)) + bytes(1 << 20)))
write(idx, "header-2p31-images.idx", idx_bytes([2**31, 28, 28], b""))
write(idx, "bad-magic.idx", b"\x01\x00\x08\x01\x00\x00\x00\x01\x00")
write(idx, "int32-element.idx", b"\x00\x00\x0c\x01\x00\x00\x00\x01\x00\x00\x00\x00")
write(idx, "rank-0.idx", b"\x00\x00\x08\x00")
write(idx, "truncated-header.idx", b"\x00\x00\x08\x03\x00\x00")
write(idx, "trailing.idx", idx_bytes([2], [1, 2]) + b"\x00")
write(idx, "corrupt.idx.gz", gz(idx_bytes([3], labels.tobytes()))[:-6])
write(idx, "zero-width-images.idx", idx_bytes([5, 0, 28], b""))
# The format's limits, which IDXFile(shape:bytes:) now checks: 255 axes (the rank byte), an
# extent of 2^32 - 1 beside a zero count.
write(idx, "rank-255.idx", idx_bytes([1] * 255, [9]))
write(idx, "rank-255.idx.gz", gz(idx_bytes([1] * 255, [9])))
write(idx, "zero-count-extent-2p32-1.idx", idx_bytes([0, 2**32 - 1], b""))
