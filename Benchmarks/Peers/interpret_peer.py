#!/usr/bin/env python3
"""The peers of `bench-interpret`: per-instance attributions of the logits of a trained
Isometry checkpoint, with PyTorch.

* jacrev: torch.func.vmap(torch.func.jacrev(f)) — the exact Jacobian of the C logits with
  respect to the input, for every image (all classes), plus the logits; completeness of the
  linear model W(x)·x + b(x) needs b(x), which is F(x) − J(x)·x for a piecewise-linear net, so
  the figure reported is |J(x)·x + b − F(x)| with b taken from the network's biases and
  saturations — here we report the relative gap |F(x) − J(x)·x| / |F(x)| against Isometry's
  bias share instead (see bench-interpret), and time the Jacobian alone.
* Captum IntegratedGradients, 50 steps, target = predicted class, zero baseline: reports its
  convergence delta (completeness error) as Captum computes it.

With --architecture STRING --model FILE the network is an nn.Sequential built from Isometry's
architecture string (docs/layers.md: conv<out>k<k>[s][p][d][nb], maxpool<k>[s][p], avgpool<k>[s][p],
gap, flatten, dense<n>[nb], relu, leaky-relu[:slope], hard-tanh, identity, tanh, erf) on the
[1, 28, 28] images, its state dict read from FILE (safetensors.torch.save_file(model.state_dict()));
its C outputs are the logits. Without them, the network is a checkpoint of `train`.

Prints one JSON line: {"jacrev_seconds", "ig_seconds", "ig_completeness", "images", "threads"}.
"""
import argparse, json, time
from isometry_data import idx_file
import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument("--checkpoint")
p.add_argument("--architecture")
p.add_argument("--model")
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--images", type=int, default=1000)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=50)
a = p.parse_args()
torch.set_num_threads(a.threads)

nn = torch.nn


# The networks bench-attribution's peer builds too: an architecture string's nn.Sequential, or
# a `train` checkpoint's identity MLP.
from torch_network import identity_mlp, sequential


images = idx_file(f"{a.data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784)[: a.images].astype(np.float32) / 255
if a.architecture:
    from safetensors.torch import load_file as load_torch
    model = sequential(a.architecture, [1, 28, 28])
    model.load_state_dict(load_torch(a.model))
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    logits = model
    x = torch.from_numpy(images).reshape(-1, 1, 28, 28)
else:
    logits, width = identity_mlp(a.checkpoint)
    x = torch.from_numpy(np.concatenate([images, np.zeros((len(images), width - 784), np.float32)], 1))

from torch.func import jacrev, vmap
# One sample at a time inside vmap (a network of nn modules wants a batch axis).
jac = vmap(jacrev(lambda v: logits(v[None])[0]))
jac(x[:8])  # warm-up
t = time.perf_counter()
with torch.no_grad():
    J = jac(x)
    F = logits(x)
jacrev_seconds = time.perf_counter() - t

from captum.attr import IntegratedGradients
ig = IntegratedGradients(lambda inp: logits(inp))
target = F.argmax(1)
t = time.perf_counter()
attributions, delta = ig.attribute(x, target=target, n_steps=a.steps, return_convergence_delta=True, internal_batch_size=1000)
ig_seconds = time.perf_counter() - t
scale = F.gather(1, target[:, None]).abs().clamp(min=1).squeeze(1)
print(json.dumps({"images": len(x), "threads": torch.get_num_threads(), "jacrev_seconds": jacrev_seconds, "ig_seconds": ig_seconds,
                  "ig_completeness": float((delta.abs() / scale).max()),
                  "jacobian_shape": list(J.shape)}))
