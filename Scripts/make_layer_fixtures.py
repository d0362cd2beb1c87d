#!/usr/bin/env python3
"""Fixtures of Tests/LayerStackTests: PyTorch nn.Sequential MLPs 20 → 30 → 16 → 5 (biases,
an activation after every Linear but the last) and what PyTorch computes with them.

For each variant <tag> (relu_f32, relu_f64, leaky_f32 (slope 0.1), hardtanh_f32, tanh_f64):
  <tag>.safetensors            model.state_dict() saved by safetensors.torch.save_file
                               (names 0.weight, 0.bias, 2.weight, …)
  <tag>_inputs.npy             a batch x [8, 20]
  <tag>_logits.npy             model(x) [8, 5]
  <tag>_cotangent.npy          c [8, 5]; the loss is sum(model(x) * c)
  <tag>_input_gradient.npy     ∂loss/∂x [8, 20]
  <tag>_gradients.safetensors  ∂loss/∂parameter, under the state_dict names
  <tag>_jacobians.npy          torch.func.jacrev(model)(x[i]) for i < 3, [3, 5, 20]

Seeded: running it again writes the same numbers. Needs numpy, torch, safetensors.
Usage: python3 Scripts/make_layer_fixtures.py [output folder]
"""
import pathlib
import sys

import numpy as np
import torch
from safetensors.torch import save_file

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "Tests/LayerStackTests/Fixtures")
out.mkdir(parents=True, exist_ok=True)

VARIANTS = [
    ("relu_f32", lambda: torch.nn.ReLU(), torch.float32, 1.0),
    ("relu_f64", lambda: torch.nn.ReLU(), torch.float64, 1.0),
    ("leaky_f32", lambda: torch.nn.LeakyReLU(0.1), torch.float32, 1.0),
    # Inputs scaled up so that some hard-tanh units saturate.
    ("hardtanh_f32", lambda: torch.nn.Hardtanh(), torch.float32, 4.0),
    ("tanh_f64", lambda: torch.nn.Tanh(), torch.float64, 2.0),
]

for seed, (tag, activation, dtype, scale) in enumerate(VARIANTS):
    torch.manual_seed(1000 + seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(20, 30), activation(),
        torch.nn.Linear(30, 16), activation(),
        torch.nn.Linear(16, 5),
    ).to(dtype)
    x = (scale * torch.randn(8, 20, dtype=dtype)).requires_grad_()
    c = torch.randn(8, 5, dtype=dtype)
    logits = model(x)
    (logits * c).sum().backward()

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"{tag}.safetensors"))
    save_file({k: p.grad.contiguous() for k, p in model.named_parameters()}, str(out / f"{tag}_gradients.safetensors"))
    np.save(out / f"{tag}_inputs.npy", x.detach().numpy())
    np.save(out / f"{tag}_logits.npy", logits.detach().numpy())
    np.save(out / f"{tag}_cotangent.npy", c.numpy())
    np.save(out / f"{tag}_input_gradient.npy", x.grad.numpy())
    with torch.no_grad():
        jacobians = torch.stack([torch.func.jacrev(model)(x[i].detach()) for i in range(3)])
    np.save(out / f"{tag}_jacobians.npy", jacobians.numpy())

total = sum(f.stat().st_size for f in out.iterdir())
print(f"wrote {len(list(out.iterdir()))} files, {total} bytes, to {out}")
