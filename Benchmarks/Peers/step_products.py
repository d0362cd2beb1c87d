"""The three GEMMs of a training step (float32, batch 128, width 794, ten weight matrices as in
the default 10-layer network) timed in PyTorch (MKL) or numpy (its bundled OpenBLAS).

Run by `bench-gemm --step-products`, one library per process so that neither library's idle
threads take the other's cores. Prints one JSON object: GFLOP/s, medians over blocks of calls.
"""
import argparse, json, os, time

p = argparse.ArgumentParser()
p.add_argument("--library", choices=["torch", "numpy"], required=True)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--blocks", type=int, default=15)
a = p.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)  # numpy's OpenBLAS reads it when loaded
import numpy as np

B, N, L = 128, 794, 10
rng = np.random.default_rng(0)
X = rng.random((B, N), dtype=np.float32)
D = rng.standard_normal((B, N), dtype=np.float32)
Ws = [rng.standard_normal((N, N), dtype=np.float32) for _ in range(L)]
C = np.empty((B, N), np.float32)
G = np.empty((N, N), np.float32)
if a.library == "torch":
    import torch
    torch.set_num_threads(a.threads)
    version = f"torch {torch.__version__} ({'MKL' if torch.backends.mkl.is_available() else 'no MKL'})"
    tX, tD, tC, tG = map(torch.from_numpy, (X, D, C, G))
    tWs = [torch.from_numpy(w) for w in Ws]
    products = {
        "forward": lambda: [torch.mm(tX, w.t(), out=tC) for w in tWs],
        "backward": lambda: [torch.mm(tD, w, out=tC) for w in tWs],
        # The SGD-fused weight update, W ← W − η·δᵀx, as the trainer does it.
        "gradient": lambda: [w.addmm_(tD.t(), tX, alpha=-1e-6) for w in tWs],
    }
else:
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    version = f"numpy {np.__version__} ({config.get('name')} {config.get('version')})"
    products = {
        "forward": lambda: [np.matmul(X, w.T, out=C) for w in Ws],
        "backward": lambda: [np.matmul(D, w, out=C) for w in Ws],
        "gradient": lambda: [np.matmul(D.T, X, out=G) for w in Ws],
    }
flops = 2.0 * B * N * N * L
result = {"library": version, "threads": a.threads}
for name, run in products.items():
    run()
    times = []
    for _ in range(a.blocks):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    result[name] = flops / sorted(times)[len(times) // 2] / 1e9
print(json.dumps(result))
