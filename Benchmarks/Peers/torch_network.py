"""Isometry networks as PyTorch modules, for the peers: the nn.Sequential an Isometry
architecture string describes (docs/layers.md), and a checkpoint of `train` (the identity MLP)
as a module whose outputs are its class units; interpret_peer.py and quantus_table.py build both here.
"""
import re
import numpy as np
import torch
from safetensors.numpy import load_file

nn = torch.nn


class GlobalAveragePool(nn.Module):
    def forward(self, x): return x.flatten(2).mean(-1)


class Erf(nn.Module):
    def forward(self, x): return torch.erf(x)


def sequential(text, shape):
    """The nn.Sequential an Isometry architecture string describes on per-sample `shape`."""
    modules = []
    for token in text.split(","):
        token = token.strip()
        spatial = len(shape) - 1
        if token == "flatten":
            modules.append(nn.Flatten()); shape = [int(np.prod(shape))]; continue
        if token == "gap":
            modules.append(GlobalAveragePool()); shape = [shape[0]]; continue
        acts = {"relu": nn.ReLU(), "hard-tanh": nn.Hardtanh(), "identity": nn.Identity(), "linear": nn.Identity(), "tanh": nn.Tanh()}
        if token in acts: modules.append(acts[token]); continue
        if token.startswith("leaky-relu"):
            modules.append(nn.LeakyReLU(float(token.split(":")[1]) if ":" in token else 0.01)); continue
        if token == "erf":
            modules.append(Erf()); continue
        bias = not token.endswith("nb")
        body = token[:-2] if not bias else token
        settings = lambda rest: {k: int(v) for k, v in re.findall(r"([spd])(\d+)", rest)}
        if body.startswith("dense"):
            n = int(body[5:]); modules.append(nn.Linear(shape[0], n, bias=bias)); shape = [n]; continue
        m = re.fullmatch(r"(maxpool|avgpool)(\d+)((?:[sp]\d+)*)", body)
        if m:
            k = int(m.group(2)); o = settings(m.group(3)); stride, pad = o.get("s", k), o.get("p", 0)
            kind = {"maxpool": [nn.MaxPool1d, nn.MaxPool2d], "avgpool": [nn.AvgPool1d, nn.AvgPool2d]}[m.group(1)][spatial - 1]
            modules.append(kind(k, stride=stride, padding=pad))
            shape = [shape[0]] + [(n + 2 * pad - k) // stride + 1 for n in shape[1:]]; continue
        m = re.fullmatch(r"conv(\d+)k(\d+)((?:[spd]\d+)*)", body)
        if m:
            out, k = int(m.group(1)), int(m.group(2)); o = settings(m.group(3))
            stride, pad, dil = o.get("s", 1), o.get("p", 0), o.get("d", 1)
            modules.append([nn.Conv1d, nn.Conv2d][spatial - 1](shape[0], out, k, stride=stride, padding=pad, dilation=dil, bias=bias))
            shape = [out] + [(n + 2 * pad - dil * (k - 1) - 1) // stride + 1 for n in shape[1:]]; continue
        raise SystemExit(f"torch_network.py: unknown architecture token {token!r}")
    return nn.Sequential(*modules)


class IdentityMLP(nn.Module):
    """A checkpoint of `train`: hard-tanh between the square layers, none after the last; input
    [N, 1, D + C] (the class units zero), output the last C units of the last pre-activation."""
    def __init__(self, weights, biases, classes=10):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(w) for w in weights])
        self.biases = [None if b is None else nn.Parameter(b) for b in biases]
        for i, b in enumerate(self.biases):
            if b is not None: self.register_parameter(f"bias{i}", b)
        self.classes = classes

    def forward(self, x):
        x = x.flatten(1)
        for i, w in enumerate(self.weights):
            h = x @ w.T + (self.biases[i] if self.biases[i] is not None else 0)
            x = torch.clamp(h, -1, 1) if i < len(self.weights) - 1 else h
        return x[:, -self.classes:]


def identity_mlp(checkpoint, classes=10):
    """The identity MLP of a `train` checkpoint and its width D + C."""
    tensors = load_file(checkpoint)
    weights, biases = [], []
    while f"layers.{len(weights)}.weight" in tensors:
        i = len(weights)
        weights.append(torch.from_numpy(tensors[f"layers.{i}.weight"].astype(np.float32)))
        b = tensors.get(f"layers.{i}.bias")
        biases.append(None if b is None else torch.from_numpy(b.astype(np.float32)))
    return IdentityMLP(weights, biases, classes), weights[0].shape[1]
