#!/usr/bin/env python3
"""The peer of `bench-attribution`: the methods x metrics table of `interpret --evaluate`
through Captum (the attributions) and Quantus 0.6 (the metrics), on the same network, images and
targets as Isometry, in PyTorch on --threads threads.

The network is a checkpoint of `train` (the identity MLP: its D + C inputs as [N, 1, D + C],
the class units zero, its outputs the C class units of the last pre-activation, as Isometry's
stack of the classifier) or, with --architecture STRING --model FILE, the nn.Sequential an
Isometry architecture string describes on [1, 28, 28] images (torch_network.py). Targets: the
predicted class (argmax of the outputs), as Isometry's default.

Methods and metrics are looked up by Isometry's names in METHODS and METRICS below; adding one is
one entry. Each method's attributions are computed once and handed to every metric as `a_batch`
(as Isometry does), every Quantus metric with normalise=False, abs=False and
disable_warnings=True (Isometry's metrics read the attributions as they are).

* gradient: captum.attr.Saliency(abs=False); gradient-x-input: captum.attr.InputXGradient.
* completeness-residual: quantus.Completeness(perturb_baseline="black") is timed; it returns
  whether sum(a) == F_t(x) - F_t(0) exactly (a boolean). The residual itself,
  |sum(a) - (F_t(x) - F_t(0))|, is then computed outside the timing with the same model, for
  the cross-check against Isometry's numbers (printed as means, not timed).

Prints one JSON line: {"seconds": total, "method_seconds": {...}, "metric_seconds": {...},
"means": {"method/metric": mean}, "images", "threads", "torch", "quantus", "captum"}.
"""
import argparse, json, time, warnings
import numpy as np
import torch
from isometry_data import idx_file
from torch_network import identity_mlp, sequential

p = argparse.ArgumentParser()
p.add_argument("--checkpoint")
p.add_argument("--architecture")
p.add_argument("--model")
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--images", type=int, default=1000)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--methods", default="gradient,gradient-x-input")
p.add_argument("--metrics", default="completeness-residual")
p.add_argument("--batch", type=int, default=250, help="images per batch of the metrics (Isometry's --evaluation-batch)")
a = p.parse_args()
torch.set_num_threads(a.threads)
warnings.filterwarnings("ignore")

import captum, quantus
from captum.attr import InputXGradient, Saliency

images = idx_file(f"{a.data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784)[: a.images].astype(np.float32) / 255
if a.architecture:
    from safetensors.torch import load_file as load_torch
    model = sequential(a.architecture, [1, 28, 28])
    model.load_state_dict(load_torch(a.model))
    x = images.reshape(-1, 1, 28, 28)
else:
    model, width = identity_mlp(a.checkpoint)
    x = np.concatenate([images, np.zeros((len(images), width - 784), np.float32)], 1).reshape(len(images), 1, width)
model.eval()
for parameter in model.parameters():
    parameter.requires_grad_(False)
xt = torch.from_numpy(x)
with torch.no_grad():
    targets = model(xt).argmax(1).numpy()


def captum_method(make, **kwargs):
    def explain(inputs, targets):
        t = torch.from_numpy(inputs).requires_grad_(True)
        return make(model).attribute(t, target=torch.from_numpy(targets), **kwargs).detach().numpy()
    return explain


METHODS = {
    "gradient": captum_method(Saliency, abs=False),
    "gradient-x-input": captum_method(InputXGradient),
}


def completeness(inputs, targets, attributions):
    metric = quantus.Completeness(abs=False, normalise=False, perturb_baseline="black", disable_warnings=True)
    return metric(model=model, x_batch=inputs, y_batch=targets, a_batch=attributions, channel_first=True, softmax=False,
                  device="cpu", batch_size=a.batch)


def completeness_residual(inputs, targets, attributions):
    """The number Isometry reports, from the same model (not timed)."""
    with torch.no_grad():
        f = model(torch.from_numpy(inputs)).double().numpy()[np.arange(len(inputs)), targets]
        f0 = model(torch.zeros((1,) + inputs.shape[1:])).double().numpy()[0, targets]
    return np.abs(attributions.reshape(len(inputs), -1).astype(np.float64).sum(1) - (f - f0))


# name: (the Quantus call that is timed, the per-sample number for the cross-check or None)
METRICS = {
    "completeness-residual": (completeness, completeness_residual),
}

methods = [m for m in a.methods.split(",") if m]
metrics = [m for m in a.metrics.split(",") if m]
for name in methods:
    if name not in METHODS: raise SystemExit(f"quantus_table.py: no peer for method {name!r}; known: {', '.join(METHODS)}")
for name in metrics:
    if name not in METRICS: raise SystemExit(f"quantus_table.py: no peer for metric {name!r}; known: {', '.join(METRICS)}")

# Warm-up on a few images: first calls build kernels and caches.
for name in methods:
    warm = METHODS[name](x[:8], targets[:8])
    for metric in metrics: METRICS[metric][0](x[:8], targets[:8], warm)

method_seconds, metric_seconds, means = {}, {}, {}
start = time.perf_counter()
for name in methods:
    t = time.perf_counter()
    attributions = np.concatenate([METHODS[name](x[i:i + a.batch], targets[i:i + a.batch]) for i in range(0, len(x), a.batch)])
    method_seconds[name] = time.perf_counter() - t
    for metric in metrics:
        timed, number = METRICS[metric]
        t = time.perf_counter()
        timed(x, targets, attributions)
        metric_seconds[f"{name}/{metric}"] = time.perf_counter() - t
        if number is not None:
            pause = time.perf_counter()
            means[f"{name}/{metric}"] = float(np.mean(number(x, targets, attributions)))
            start += time.perf_counter() - pause  # the cross-check is not part of the timing
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "method_seconds": method_seconds, "metric_seconds": metric_seconds, "means": means,
                  "images": len(x), "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "quantus": quantus.__version__, "captum": captum.__version__}))
