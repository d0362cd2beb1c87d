#!/usr/bin/env python3
"""The eigenvalues of J Jᵀ for the PyTorch MLP fixture (Tests/Fixtures/PyTorchMLP): numpy's
eigvalsh(J @ J.T) in float64 of torch.func.jacrev's float32 J (jacobians.npy) at the 8 test
images (inputs.npy), descending, one row per image. The spectrum analyzer on the layer stack is
checked against them (Tests/SpectrumTests/StackSpectrumTests.swift).

Deterministic (no randomness); needs numpy (/work/venv-stack/bin/python). Writes
Tests/SpectrumTests/Fixtures/pytorch_mlp_eigenvalues.npy.
"""
import pathlib
import numpy as np

root = pathlib.Path(__file__).resolve().parent.parent
jacobians = np.load(root / "Tests" / "Fixtures" / "PyTorchMLP" / "jacobians.npy").astype(np.float64)
assert jacobians.shape == (8, 10, 784), jacobians.shape
eigenvalues = np.stack([np.sort(np.linalg.eigvalsh(j @ j.T))[::-1] for j in jacobians])
out = root / "Tests" / "SpectrumTests" / "Fixtures"
out.mkdir(parents=True, exist_ok=True)
np.save(out / "pytorch_mlp_eigenvalues.npy", np.ascontiguousarray(eigenvalues))
print(eigenvalues[:, 0], eigenvalues.mean())
