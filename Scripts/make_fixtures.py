#!/usr/bin/env python3
"""Writes the numpy reference fixtures the tensor tests compare against.

Run once offline (python3 Scripts/make_fixtures.py) and commit the .npy files; the tests
never call Python. The inputs come from numpy's own generator, independent of Isometry's.
"""
import math
import os
import numpy as np
from scipy import special

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorAlgebraTests", "Fixtures")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261122)


def save(name, array):
    np.save(os.path.join(out, name + ".npy"), array)


# Matrix products: A (5x7), B (7x4); the transposed copies let every flag combination be
# checked against the same product.
a = rng.standard_normal((5, 7))
b = rng.standard_normal((7, 4))
c = rng.standard_normal((5, 4))
x = rng.standard_normal(7)
save("gemm_a", a)
save("gemm_b", b)
save("gemm_c", c)
save("gemm_a_transposed", np.ascontiguousarray(a.T))
save("gemm_b_transposed", np.ascontiguousarray(b.T))
save("gemm_ab", a @ b)
save("gemm_alpha_beta", 0.5 * (a @ b) - 2.0 * c)  # alpha = 0.5, beta = -2
save("gemv_x", x)
save("gemv_ax", a @ x)

# Decompositions.
m = rng.standard_normal((6, 4))
save("svd_matrix", m)
save("svd_values", np.linalg.svd(m, compute_uv=False))
wide = rng.standard_normal((3, 5))
save("svd_wide_matrix", wide)
save("svd_wide_values", np.linalg.svd(wide, compute_uv=False))
s = rng.standard_normal((5, 5))
s = s + s.T
save("eigh_matrix", s)
save("eigh_values", np.linalg.eigvalsh(s))

# Softmax with entries that would overflow a naive exp.
logits = np.array([[1000.0, 1001.0, 999.0, -5.0, 0.0],
                   [-1000.0, -1002.0, -999.5, -1001.0, -1000.0],
                   [0.1, 0.2, 0.3, 0.4, 0.5]])
save("softmax_input", logits)
save("softmax_output", special.softmax(logits, axis=-1))
save("log_softmax_output", special.log_softmax(logits, axis=-1))

# Reductions along each axis of a rank-3 tensor.
t = rng.standard_normal((3, 4, 5))
save("reduce_input", t)
for axis in range(3):
    save(f"reduce_sum_axis{axis}", t.sum(axis=axis))
    save(f"reduce_mean_axis{axis}", t.mean(axis=axis))
    save(f"reduce_max_axis{axis}", t.max(axis=axis))
    save(f"reduce_argmax_axis{axis}", t.argmax(axis=axis).astype("<i8"))

# Broadcasting: [4, 3] with a [3] row and a [4, 1] column.
base = rng.standard_normal((4, 3))
row = rng.standard_normal(3)
col = rng.standard_normal((4, 1))
save("broadcast_base", base)
save("broadcast_row", row)
save("broadcast_column", col)
save("broadcast_base_minus_row", base - row)
save("broadcast_base_times_column", base * col)
save("broadcast_column_minus_row", col - row)  # both sides broadcast: [4, 3]

# Every dtype the reader accepts.
save("dtype_f4", np.arange(6, dtype="<f4").reshape(2, 3) / 4)
save("dtype_u1", np.array([[0, 1, 255], [7, 8, 9]], dtype="u1"))
save("dtype_i8", np.array([-3, 0, 2**40], dtype="<i8"))
save("dtype_scalar", np.array(2.5, dtype="<f8"))


# Isometry's generator, written again independently: SplitMix64 seeding xoshiro256**, then
# Marsaglia's polar method. Swift must reproduce these bit for bit (normals within 2 ulp,
# since this side uses libm's log).
MASK = (1 << 64) - 1


def splitmix(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def xoshiro(seed):
    sm = splitmix(seed)
    s = [next(sm) for _ in range(4)]
    while True:
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        yield result


gen = xoshiro(42)
raw = [next(gen) for _ in range(8)]
save("rng_seed42_uint64_as_int64", np.array(raw, dtype=np.uint64).view("<i8"))

gen = xoshiro(7)
uniform = lambda: (next(gen) >> 11) * 2.0**-53
normals = []
while len(normals) < 10:
    u, v = 2 * uniform() - 1, 2 * uniform() - 1
    q = u * u + v * v
    if 0 < q < 1:
        f = math.sqrt(-2 * math.log(q) / q)
        normals += [u * f, v * f]
save("rng_seed7_normals", np.array(normals[:10]))
print("fixtures written to", os.path.normpath(out))
