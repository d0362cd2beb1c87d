#!/usr/bin/env python3
"""Exports a PyTorch MLP (here: the peer trainer's architecture, 4 layers, near-identity) with the five
lines of docs/training.md, so `interpret` and `spectrum --checkpoint` can read it:

    ~/.venv-peers/bin/python Scripts/export_from_pytorch.py && swift run -c release interpret --checkpoint /tmp/torch_model.safetensors
"""
import torch
N, C = 794, 10
layers = []
for _ in range(4):
    lin = torch.nn.Linear(N, N, bias=False)
    with torch.no_grad(): lin.weight.copy_(torch.eye(N) + 0.01 * torch.randn(N, N))
    layers += [lin, torch.nn.Hardtanh()]
model = torch.nn.Sequential(*layers[:-1])
linears = [m for m in model if isinstance(m, torch.nn.Linear)]
# --- the five lines from docs/training.md ---
from safetensors.torch import save_file
tensors = {f"layers.{i}.weight": m.weight.detach().contiguous() for i, m in enumerate(linears)}
tensors |= {f"layers.{i}.bias": m.bias.detach() for i, m in enumerate(linears) if m.bias is not None}
meta = {"activation": "hard-tanh", "sigma": "1.0", "input_features": "784", "classes": "10"}
save_file(tensors, "/tmp/torch_model.safetensors", metadata=meta)
print("exported")
