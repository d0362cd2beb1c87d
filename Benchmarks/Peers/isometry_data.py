"""What the PyTorch peers share with Isometry's side of a benchmark: IDX files read as Isometry
reads them, and the permutation Isometry's SeededGenerator draws for an epoch (so both sides see
the same batches in the same order). Imported by the peer scripts beside it.
"""
import gzip
import numpy as np

M = (1 << 64) - 1

def seeded_permutation(count, seed):
    s = seed
    def splitmix():
        nonlocal s
        s = (s + 0x9E3779B97F4A7C15) & M
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        return z ^ (z >> 31)
    st = [splitmix() for _ in range(4)]
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M
    idx = list(range(count))
    for i in range(count - 1, 0, -1):
        result = (rotl((st[1] * 5) & M, 7) * 9) & M
        t = (st[1] << 17) & M
        st[2] ^= st[0]; st[3] ^= st[1]; st[1] ^= st[2]; st[0] ^= st[3]; st[2] ^= t; st[3] = rotl(st[3], 45)
        j = result % (i + 1)
        idx[i], idx[j] = idx[j], idx[i]
    return idx

def idx_file(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
