#!/usr/bin/env python3
"""The peer of `bench-attribution`: the methods x metrics table of `interpret --evaluate`
through Captum 0.9 (the attributions) and Quantus 0.6 (the metrics), on the same network, images
and targets as Isometry, in PyTorch on --threads threads, with Isometry's default settings
(AttributionSettings, AttributionCatalogue).

The network is a checkpoint of `train` (the identity MLP: its D + C inputs as [N, 1, D + C],
the class units zero, its outputs the C class units of the last pre-activation, as Isometry's
stack of the classifier) or, with --architecture STRING --model FILE, the nn.Sequential an
Isometry architecture string describes on [1, 28, 28] images (torch_network.py). Targets: the
predicted class (argmax of the outputs), as Isometry's default.

Methods and metrics are looked up by Isometry's names in METHODS and METRICS below. Each method's
attributions are computed once per batch of --batch images and handed to every metric as
`a_batch` (as Isometry does); every Quantus metric runs with normalise=False, abs=False and
disable_warnings=True (Isometry's metrics read the attributions as they are), batch_size=--batch.
Where a library takes an internal batch size it gets about ROWS = 512 rows a pass, the rows of
Isometry's perturbation batches (IntegratedGradients internal_batch_size, NoiseTunnel
nt_samples_batch_size, Occlusion perturbations_per_eval, infidelity max_examples_per_batch).

Methods (Captum where it has the method):
* gradient: Saliency(abs=False); gradient-x-input: InputXGradient.
* linearisation, switched-projection: InputXGradient. On a piecewise-linear stack W(x)_t is the
  gradient of the target, so W(x)_t ⊙ x (the linearisation's map) and ŵ_t ⊙ x (the target's
  switched projection) are gradient × input; Isometry's tests hold both to 1e-12 of Captum's
  InputXGradient. Captum has no route that also gives the bias shares, which the table does not use.
* integrated-gradients: IntegratedGradients, n_steps=50, method="gausslegendre", zero baseline.
* smoothgrad: NoiseTunnel(Saliency(abs=False)), nt_type="smoothgrad", nt_samples=50, stdevs=0.15.
  On the identity MLP Isometry noises only the D pixels (the class columns keep their values), so
  the inputs go to Captum as the tuple (pixels, class columns) with stdevs (0.15, 0).
* occlusion: Occlusion, sliding_window_shapes=(1, 3, 3), strides 1, baselines 0 (Isometry's
  default window: the channel axis whole, 3 along the others). On the identity MLP the window
  slides over the D = 784 pixels laid out as [1, 28, 28], the class columns passed through
  additional_forward_args and never occluded (their map 0), as Isometry's Occlusion does.
* insens (no Captum counterpart; plain PyTorch, written here): Ω(x) of theory.md §3, the mean
  over the inactive units entering each ReLU/hard-tanh (pre-activation h <= 0 for ReLU, |h| >= 1
  for hard-tanh, threshold t = 0 or ±1) of ((h_i − t_i)/‖ŵ_i‖²)·ŵ_i, ŵ_i the gradient of unit i
  over the D feature inputs, units with ŵ_i = 0 skipped. ŵ of every unit by
  torch.func.jacfwd per image (forward mode, D tangents: Isometry's route too).
* kubota-contribution (identity MLP only; plain PyTorch): W^L[D + t, j]·x^{L−1}[j] for the
  j < D, the last layer's weights times its input, from one forward pass.

Metrics:
* completeness-residual: quantus.Completeness(perturb_baseline="black") is timed; it returns
  whether sum(a) == F_t(x) - F_t(0) exactly (a boolean). The residual itself,
  |sum(a) - (F_t(x) - F_t(0))|, is then computed outside the timing with the same model, for
  the cross-check against Isometry's numbers (means printed, not timed).
* deletion-auc, insertion-auc (not in Quantus; plain PyTorch, batched over the images): features
  by decreasing attribution (stable ties), k = ceil(0.05 D) a step set to 0 (deletion) or put
  back from 0 (insertion), the target's softmax at 0, k, 2k, ..., D features, area by the
  trapezoid rule over the fraction min(jk, D)/D.
* faithfulness-correlation: quantus.FaithfulnessCorrelation(nr_runs=100, subset_size=224,
  perturb_baseline="black"), logits (softmax=False), Pearson.
* infidelity: captum.metrics.infidelity, n_perturb_samples=10, normalize=False, perturb_func
  I ~ N(0, 0.1²) on every input feature, perturbed input x − I.
* pixel-flipping: quantus.PixelFlipping(features_in_step=1, perturb_baseline="black",
  return_auc_per_sample=True), softmax=True.
* max-sensitivity: quantus.MaxSensitivity(nr_samples=200, lower_bound=0.2) (difference,
  fro_norm over fro_norm), explain_func the method's own function here.

Random draws (faithfulness subsets, noise) come from numpy's and torch's generators seeded 0, not
Isometry's SeededGenerator: those cells agree with Isometry's in distribution, not per draw
(the fixture tests compare them draw by draw).

Prints one JSON line: {"seconds": total (wall clock), "cpu_seconds": the process's CPU time over the
same span (time.process_time: on a shared, oversubscribed machine the fairer measure of work), "method_seconds": {...}, "metric_seconds": {...},
"means": {"method/metric": mean}, "images", "threads", "torch", "quantus", "captum"}.
"""
import argparse, json, math, time, warnings
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
from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Occlusion, Saliency
from captum.metrics import infidelity

# Quantus 0.6.0's calculate_auc calls np.trapz, which numpy 2.4 removed (np.trapezoid since 2.0,
# the same rule): restore the name so return_auc_per_sample runs.
if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid
ROWS = 512
torch.manual_seed(0)
np.random.seed(0)

images = idx_file(f"{a.data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784)[: a.images].astype(np.float32) / 255
mlp = a.architecture is None
if not mlp:
    from safetensors.torch import load_file as load_torch
    model = sequential(a.architecture, [1, 28, 28])
    model.load_state_dict(load_torch(a.model))
    x = images.reshape(-1, 1, 28, 28)
    D = 784
else:
    model, width = identity_mlp(a.checkpoint)
    D = width - model.classes
    x = np.concatenate([images, np.zeros((len(images), width - D), np.float32)], 1).reshape(len(images), 1, width)
model.eval()
for parameter in model.parameters():
    parameter.requires_grad_(False)
xt = torch.from_numpy(x)
with torch.no_grad():
    targets = model(xt).argmax(1).numpy()


class Split(torch.nn.Module):
    """The identity MLP on (pixels, class columns): lets Captum noise or occlude the D pixels only."""
    def forward(self, pixels, classes):
        return model(torch.cat([pixels.flatten(1), classes.flatten(1)], 1).unsqueeze(1))


split = Split()


def as_tensor(inputs):
    return torch.as_tensor(np.ascontiguousarray(inputs), dtype=torch.float32)


def captum_method(make, **kwargs):
    def explain(inputs, targets):
        t = as_tensor(inputs).requires_grad_(True)
        return make(model).attribute(t, target=torch.as_tensor(targets), **kwargs).detach().numpy()
    return explain


def integrated_gradients(inputs, targets):
    return IntegratedGradients(model).attribute(as_tensor(inputs), baselines=None, target=torch.as_tensor(targets), n_steps=50,
                                                method="gausslegendre", internal_batch_size=ROWS).detach().numpy()


def smoothgrad(inputs, targets):
    t = as_tensor(inputs)
    per_batch = max(1, ROWS // len(t))
    if not mlp:
        return NoiseTunnel(Saliency(model)).attribute(t, nt_type="smoothgrad", nt_samples=50, nt_samples_batch_size=per_batch,
                                                      stdevs=0.15, target=torch.as_tensor(targets), abs=False).detach().numpy()
    flat = t.reshape(len(t), -1)
    pixels, classes = flat[:, :D].contiguous(), flat[:, D:].contiguous()
    maps = NoiseTunnel(Saliency(split)).attribute((pixels, classes), nt_type="smoothgrad", nt_samples=50, nt_samples_batch_size=per_batch,
                                                  stdevs=(0.15, 0.0), target=torch.as_tensor(targets), abs=False)
    return torch.cat([m.detach() for m in maps], 1).reshape(t.shape).numpy()


def occlusion(inputs, targets):
    t = as_tensor(inputs)
    per_eval = max(1, ROWS // len(t))
    if not mlp:
        return Occlusion(model).attribute(t, sliding_window_shapes=(1, 3, 3), strides=(1, 1, 1), baselines=0,
                                          target=torch.as_tensor(targets), perturbations_per_eval=per_eval).detach().numpy()
    flat = t.reshape(len(t), -1)
    side = math.isqrt(D)
    pixels, classes = flat[:, :D].reshape(len(t), 1, side, side).contiguous(), flat[:, D:].contiguous()
    maps = Occlusion(split).attribute(pixels, sliding_window_shapes=(1, 3, 3), strides=(1, 1, 1), baselines=0,
                                      target=torch.as_tensor(targets), additional_forward_args=(classes,),
                                      perturbations_per_eval=per_eval).detach()
    return torch.cat([maps.reshape(len(t), D), torch.zeros_like(classes)], 1).reshape(t.shape).numpy()


def preactivations(flat):
    """Every hidden pre-activation entering a ReLU or hard-tanh of one flattened input, with the
    unit's threshold rule: (h, kind) per activation layer."""
    if mlp:
        out, h = [], flat
        for i, w in enumerate(model.weights[:-1]):
            h = h @ w.T + (model.biases[i] if model.biases[i] is not None else 0)
            out.append(h)
            h = torch.clamp(h, -1, 1)
        return out
    out, h = [], flat.reshape(1, 28, 28).unsqueeze(0)
    for module in model:
        if isinstance(module, (torch.nn.ReLU, torch.nn.Hardtanh)):
            out.append(h.flatten())
        h = module(h)
    return out


def insens(inputs, targets):
    flat_inputs = as_tensor(inputs).reshape(len(inputs), -1)
    maps = torch.zeros_like(flat_inputs)
    for i, row in enumerate(flat_inputs):
        pixels, rest = row[:D], row[D:]
        f = lambda p: torch.cat(preactivations(torch.cat([p, rest])))
        h = f(pixels)
        jacobian = torch.func.jacfwd(f)(pixels)  # [units, D]: every unit's ŵ over the D features
        if mlp:
            inactive = h.abs() >= 1
            offsets = h - torch.sign(h)
        else:
            inactive = h <= 0
            offsets = h
        norms = (jacobian * jacobian).sum(1)
        used = inactive & (norms > 0)
        count = int(used.sum())
        if count == 0:
            continue
        factors = torch.where(used, offsets / torch.where(used, norms, torch.ones_like(norms)), torch.zeros_like(h))
        maps[i, :D] = (factors.double() @ jacobian.double() / count).float()
    return maps.reshape(inputs.shape).numpy()


def kubota_contribution(inputs, targets):
    flat = as_tensor(inputs).reshape(len(inputs), -1)
    with torch.no_grad():
        h = flat
        for i, w in enumerate(model.weights[:-1]):
            h = torch.clamp(h @ w.T + (model.biases[i] if model.biases[i] is not None else 0), -1, 1)
        last = model.weights[-1]
        rows = last[D + torch.as_tensor(targets), :D]
        maps = torch.zeros_like(flat)
        maps[:, :D] = rows * h[:, :D]
    return maps.reshape(inputs.shape).numpy()


METHODS = {
    "gradient": captum_method(Saliency, abs=False),
    "gradient-x-input": captum_method(InputXGradient),
    "linearisation": captum_method(InputXGradient),
    "switched-projection": captum_method(InputXGradient),
    "insens": insens,
    "integrated-gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "occlusion": occlusion,
}
if mlp:
    METHODS["kubota-contribution"] = kubota_contribution


def completeness(inputs, targets, attributions, method):
    metric = quantus.Completeness(abs=False, normalise=False, perturb_baseline="black", disable_warnings=True)
    return metric(model=model, x_batch=inputs, y_batch=targets, a_batch=attributions, channel_first=True, softmax=False,
                  device="cpu", batch_size=a.batch)


def completeness_residual(inputs, targets, attributions):
    """The number Isometry reports, from the same model (not timed)."""
    with torch.no_grad():
        f = model(torch.from_numpy(inputs)).double().numpy()[np.arange(len(inputs)), targets]
        f0 = model(torch.zeros((1,) + inputs.shape[1:])).double().numpy()[0, targets]
    return np.abs(attributions.reshape(len(inputs), -1).astype(np.float64).sum(1) - (f - f0))


def batches(*arrays):
    for start in range(0, len(arrays[0]), a.batch):
        yield tuple(array[start:start + a.batch] for array in arrays)


def target_softmax(flat, targets, shape):
    with torch.no_grad():
        out = torch.softmax(model(torch.from_numpy(flat.reshape((len(flat),) + shape))), -1)
    return out[torch.arange(len(flat)), torch.as_tensor(targets)].double().numpy()


def deletion_insertion(insertion):
    def metric(inputs, targets, attributions, method):
        scores = []
        for xb, tb, ab in batches(inputs, targets, attributions):
            n, shape = len(xb), xb.shape[1:]
            flat_x, flat_a = xb.reshape(n, -1), ab.reshape(n, -1)
            d = flat_x.shape[1]
            k = math.ceil(0.05 * d)
            order = np.argsort(-flat_a, axis=1, kind="stable")
            current = np.zeros_like(flat_x) if insertion else flat_x.copy()
            rows = np.arange(n)[:, None]
            values, fractions = [target_softmax(current, tb, shape)], [0.0]
            for start in range(0, d, k):
                idx = order[:, start:start + k]
                current[rows, idx] = flat_x[rows, idx] if insertion else 0
                values.append(target_softmax(current, tb, shape))
                fractions.append(min(start + k, d) / d)
            scores.append(np.trapezoid(np.stack(values, 1), np.array(fractions), axis=1))
        return np.concatenate(scores)
    return metric


def faithfulness_correlation(inputs, targets, attributions, method):
    metric = quantus.FaithfulnessCorrelation(nr_runs=100, subset_size=224, perturb_baseline="black", abs=False, normalise=False,
                                             return_aggregate=False, disable_warnings=True)
    return metric(model=model, x_batch=inputs, y_batch=targets, a_batch=attributions, channel_first=True, softmax=False,
                  device="cpu", batch_size=a.batch)


def infidelity_metric(inputs, targets, attributions, method):
    def perturb(batch):
        noise = torch.randn_like(batch) * 0.1
        return noise, batch - noise
    scores = []
    for xb, tb, ab in batches(inputs, targets, attributions):
        scores.append(infidelity(model, perturb, as_tensor(xb), as_tensor(ab), target=torch.as_tensor(tb), n_perturb_samples=10,
                                 max_examples_per_batch=max(1, ROWS // 10), normalize=False).detach().numpy())
    return np.concatenate(scores)


def pixel_flipping(inputs, targets, attributions, method):
    metric = quantus.PixelFlipping(features_in_step=1, perturb_baseline="black", abs=False, normalise=False,
                                   return_auc_per_sample=True, disable_warnings=True)
    return metric(model=model, x_batch=inputs, y_batch=targets, a_batch=attributions, channel_first=True, softmax=True,
                  device="cpu", batch_size=a.batch)


def max_sensitivity(inputs, targets, attributions, method):
    explain = lambda model, inputs, targets, **kwargs: METHODS[method](np.asarray(inputs, np.float32), np.asarray(targets))
    metric = quantus.MaxSensitivity(nr_samples=200, lower_bound=0.2, abs=False, normalise=False, return_aggregate=False,
                                    disable_warnings=True)
    return metric(model=model, x_batch=inputs, y_batch=targets, a_batch=attributions, channel_first=True, softmax=False,
                  device="cpu", batch_size=a.batch, explain_func=explain)


# name: (the call that is timed, the per-sample number for the cross-check when the timed call
# does not return it, else None)
METRICS = {
    "completeness-residual": (completeness, completeness_residual),
    "deletion-auc": (deletion_insertion(False), None),
    "insertion-auc": (deletion_insertion(True), None),
    "faithfulness-correlation": (faithfulness_correlation, None),
    "infidelity": (infidelity_metric, None),
    "pixel-flipping": (pixel_flipping, None),
    "max-sensitivity": (max_sensitivity, None),
}

methods = [m for m in a.methods.split(",") if m]
metrics = [m for m in a.metrics.split(",") if m]
for name in methods:
    if name not in METHODS: raise SystemExit(f"quantus_table.py: no peer for method {name!r} on this network; known: {', '.join(METHODS)}")
for name in metrics:
    if name not in METRICS: raise SystemExit(f"quantus_table.py: no peer for metric {name!r}; known: {', '.join(METRICS)}")

# Warm-up on a few images: first calls build kernels and caches.
for name in methods:
    warm = METHODS[name](x[:8], targets[:8])
    for metric in metrics:
        if metric != "max-sensitivity": METRICS[metric][0](x[:8], targets[:8], warm, name)

method_seconds, metric_seconds, means = {}, {}, {}
start, cpu_start = time.perf_counter(), time.process_time()
for name in methods:
    t = time.perf_counter()
    attributions = np.concatenate([METHODS[name](xb, tb) for xb, tb in batches(x, targets)])
    method_seconds[name] = time.perf_counter() - t
    for metric in metrics:
        timed, number = METRICS[metric]
        t = time.perf_counter()
        values = timed(x, targets, attributions, name)
        metric_seconds[f"{name}/{metric}"] = time.perf_counter() - t
        pause, cpu_pause = time.perf_counter(), time.process_time()
        per_sample = np.asarray(number(x, targets, attributions) if number is not None else values, dtype=np.float64)
        means[f"{name}/{metric}"] = float(np.nanmean(per_sample))
        start += time.perf_counter() - pause  # the cross-check is not part of the timing
        cpu_start += time.process_time() - cpu_pause
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "method_seconds": method_seconds, "metric_seconds": metric_seconds, "means": means,
                  "images": len(x), "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "quantus": quantus.__version__, "captum": captum.__version__}))
