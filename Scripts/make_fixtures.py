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

# Solvers, least squares, inverses, determinants and norms. A generator of their own, so the
# fixtures above do not change when these are added to or regenerated.
rng = np.random.default_rng(20261130)

# A well-conditioned square system (diagonally shifted), with one and with three right-hand sides.
a = rng.standard_normal((5, 5)) + 4 * np.eye(5)
save("solve_a", a)
save("solve_b_vector", rng.standard_normal(5))
save("solve_b_matrix", rng.standard_normal((5, 3)))
save("solve_x_vector", np.linalg.solve(a, np.load(os.path.join(out, "solve_b_vector.npy"))))
save("solve_x_matrix", np.linalg.solve(a, np.load(os.path.join(out, "solve_b_matrix.npy"))))
save("inv_result", np.linalg.inv(a))
save("det_value", np.array(np.linalg.det(a)))

# A determinant of negative sign: a with two rows swapped.
negative = a[[1, 0, 2, 3, 4]]
save("det_negative_matrix", negative)
sign, logabsdet = np.linalg.slogdet(negative)
save("slogdet_negative_sign", np.array(sign))
save("slogdet_negative_logabsdet", np.array(logabsdet))
save("det_negative_value", np.array(np.linalg.det(negative)))

# Cholesky of a symmetric positive definite matrix.
g = rng.standard_normal((5, 5))
spd = g @ g.T + 5 * np.eye(5)
save("cholesky_matrix", spd)
save("cholesky_lower", np.linalg.cholesky(spd))

# Least squares: over-determined full rank (8x4, vector and two right-hand sides), and
# rank-deficient (6x4 of rank 2, so the minimum-norm solution is the one numpy returns).
over = rng.standard_normal((8, 4))
over_b = rng.standard_normal((8, 2))
x, residuals, rank, sv = np.linalg.lstsq(over, over_b, rcond=None)
save("lstsq_over_a", over)
save("lstsq_over_b", over_b)
save("lstsq_over_x", x)
save("lstsq_over_residuals", residuals)
save("lstsq_over_singular_values", sv)
x, residuals, rank, sv = np.linalg.lstsq(over, over_b[:, 0], rcond=None)
save("lstsq_over_x_vector", x)
save("lstsq_over_residuals_vector", residuals)  # shape (1,), as numpy reports a vector b
deficient = rng.standard_normal((6, 2)) @ rng.standard_normal((2, 4))
deficient_b = rng.standard_normal(6)
x, residuals, rank, sv = np.linalg.lstsq(deficient, deficient_b, rcond=None)
assert rank == 2 and residuals.size == 0
save("lstsq_deficient_a", deficient)
save("lstsq_deficient_b", deficient_b)
save("lstsq_deficient_x", x)
save("lstsq_deficient_singular_values", sv)

# Pseudo-inverse: a tall full-rank matrix, and the rank-deficient one above.
save("pinv_matrix", over)
save("pinv_result", np.linalg.pinv(over, rtol=None))
save("pinv_deficient_result", np.linalg.pinv(deficient, rtol=1e-10))

# Norms of a matrix and, along each axis, of the rank-3 reduction input.
m = rng.standard_normal((4, 6))
save("norm_matrix", m)
save("norm_frobenius", np.array(np.linalg.norm(m)))
save("norm_spectral", np.array(np.linalg.norm(m, 2)))
save("norm_nuclear", np.array(np.linalg.norm(m, "nuc")))
save("norm_matrix_axis0", np.linalg.norm(m, axis=0))
save("norm_matrix_axis1", np.linalg.norm(m, axis=1))
save("norm_reduce_all", np.array(np.linalg.norm(t)))
for axis in range(3):
    save(f"norm_reduce_axis{axis}", np.linalg.norm(t, axis=axis))

# A block by ranges of rows and columns: gemm_a[1:4, 2:6].
save("slice_gemm_a_rows1to4_columns2to6", np.load(os.path.join(out, "gemm_a.npy"))[1:4, 2:6])

print("fixtures written to", os.path.normpath(out))
