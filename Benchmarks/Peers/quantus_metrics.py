#!/usr/bin/env python3
"""Reference values of Isometry's attribution evaluation metrics, from pip-installed Quantus 0.6.0
and Captum 0.9 on two small PyTorch networks in float64 (Tests/Fixtures/AttributionMetrics/).

Networks (random weights, torch.manual_seed), each with fixed inputs and fixed attributions
(gradient x input of the target, computed here with autograd in float64):
  mlp: [1, 20] -> Flatten, Linear 16, ReLU, Linear 12, ReLU, Linear 4 (Isometry: pytorchStateDict, relu;
       Quantus reads axis 1 as channels, hence the [1, 20] samples and the Flatten)
  cnn: [1, 8, 8] -> Conv2d 4k3, ReLU, MaxPool2d 2, Flatten, Linear 5 ("conv4k3,relu,maxpool2,flatten,dense5")

Float64 everywhere: torch.set_default_dtype(torch.float64) before anything, because Quantus's
PyTorchModel.predict turns numpy arrays into `torch.Tensor(x)` (the default dtype) and Captum's
default sensitivity perturbation is a FloatTensor: with float64 the references differ from
Isometry's float64 metrics by rounding only, so the test compares them to 1e-6.

Metrics and their recorded draws (every random number a metric used is in the fixture, so
Isometry computes the same metric from the same draws rather than the same distribution):
  PixelFlipping (Quantus; defaults: perturb_baseline "black" = the sample's minimum, softmax
      probabilities, normalise_by_max, no abs; features_in_step 1 (mlp) and 4 (cnn))
      -> <net>_pixel_flipping_curves.npy [n, steps], <net>_pixel_flipping_auc.npy [n] (np.trapz, dx = 1)
      No draws, but an order: Quantus ranks features by np.argsort(-a), numpy's unstable sort, which
      puts tied attributions (the CNN's zero gradients) in no fixed order; the order it used is
      recorded by wrapping numpy.argsort -> <net>_pixel_flipping_order.npy [n, features].
  FaithfulnessCorrelation (Quantus; nr_runs 40, subset_size 5 (mlp) / 16 (cnn), "black", logits
      (its default softmax=False), pearson) -> <net>_faithfulness_correlation.npy [n] and
      <net>_faithfulness_subsets.npy [runs, n, subset]: every np.random.choice the metric made,
      recorded by wrapping numpy.random.choice while it runs (np.random.seed(0) before).
  MaxSensitivity (Quantus; nr_samples 10, lower_bound 0.2: noise U(-0.2, 0.2) on every feature,
      difference, fro_norm of the difference over fro_norm of a(x), max over samples, explain_func =
      gradient x input) -> <net>_max_sensitivity.npy [n], <net>_max_sensitivity_noise.npy
      [samples, n, features]: every numpy.random.uniform call, recorded the same way.
  sensitivity_max (Captum; n_perturb_samples 10, norm "fro", perturb_func: U(-0.02, 0.02) in
      float64 from torch.Generator seeded 1, recorded) -> <net>_captum_sensitivity.npy [n],
      <net>_captum_sensitivity_noise.npy [n, samples, features]
  infidelity (Captum; n_perturb_samples 10, normalize=False, target logit, perturb_func:
      I ~ N(0, 0.1^2) per feature from torch.Generator seeded 2, perturbed input x - I)
      -> <net>_infidelity.npy [n], <net>_infidelity_noise.npy [n, samples, features]
Independent references of Isometry's own curves (no library has them; plain torch here):
  deletion and insertion of the fraction 1/4 of features a step, baseline 0, softmax of the
      target: <net>_deletion_curves.npy, <net>_insertion_curves.npy [n, steps + 1]

Targets: sample i explains class i mod C (mlp: 0 1 2 3 0 1, cnn: 0 1 2 3 4 0), whatever it predicts.

Also: <net>_model.safetensors, <net>_inputs.npy, <net>_targets.npy (float64 integers),
<net>_attributions.npy, reference.json (versions, settings).

Run: /root/.venv-peers/bin/python Benchmarks/Peers/quantus_metrics.py   (seeded: the same numbers again)
"""
import json, pathlib, sys, warnings
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
import captum
import quantus
from captum.metrics import infidelity, sensitivity_max
from safetensors.torch import save_file

warnings.filterwarnings("ignore")
# Quantus 0.6.0's calculate_auc calls np.trapz, which numpy 2.4 removed (renamed np.trapezoid in
# 2.0, the same composite trapezoidal rule): restore the old name so return_auc_per_sample runs.
if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid
root = pathlib.Path(__file__).resolve().parent.parent.parent
out = root / "Tests" / "Fixtures" / "AttributionMetrics"
nn = torch.nn
torch.set_num_threads(1)


def gradient_x_input(model, x, targets):
    if isinstance(x, tuple):
        (x,) = x
    x = torch.as_tensor(np.asarray(x.detach() if torch.is_tensor(x) else x), dtype=torch.float64).clone().requires_grad_(True)
    with torch.enable_grad():  # Captum's sensitivity_max calls it under no_grad
        out = model(x)
        out[torch.arange(len(x)), torch.as_tensor(np.asarray(targets)).long()].sum().backward()
    return (x.grad * x).detach()


def explain(model, inputs, targets, **kwargs):
    """Quantus's explain_func: gradient x input as numpy."""
    return gradient_x_input(model, inputs, targets).numpy()


class Recorder:
    """Wraps a function of numpy.random (or of `module`), keeping every value it returns."""
    def __init__(self, name, module=np.random):
        self.module, self.name, self.original, self.values = module, name, getattr(module, name), []

    def __enter__(self):
        def wrapped(*args, **kwargs):
            value = self.original(*args, **kwargs)
            self.values.append(np.array(value))
            return value
        setattr(self.module, self.name, wrapped)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.original)


def softmax_target(model, x, targets):
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(x)), -1)[torch.arange(len(x)), torch.as_tensor(targets).long()].numpy()


def curves(model, x, targets, a, fraction, insertion):
    """Deletion (features set to 0 from x, most attributed first) or insertion (features set to
    x's values from 0): the target's softmax after 0, k, 2k, ... features, k = ceil(fraction d)."""
    n = len(x)
    flat_x, flat_a = x.reshape(n, -1), a.reshape(n, -1)
    d = flat_x.shape[1]
    k = int(np.ceil(fraction * d))
    rows = []
    for i in range(n):
        order = np.argsort(-flat_a[i], kind="stable")
        current = np.zeros(d) if insertion else flat_x[i].copy()
        values = [softmax_target(model, current.reshape((1,) + x.shape[1:]), targets[i:i + 1])[0]]
        for start in range(0, d, k):
            idx = order[start:start + k]
            current[idx] = flat_x[i][idx] if insertion else 0.0
            values.append(softmax_target(model, current.reshape((1,) + x.shape[1:]), targets[i:i + 1])[0])
        rows.append(values)
    return np.array(rows)


def run(tag, model, x, features_in_step, subset_size, architecture):
    model = model.double().eval()
    n = len(x)
    # Several targets, every class in turn (sample i explains class i mod C), not only the
    # predicted one: a metric that read the wrong output would agree with one class by chance.
    with torch.no_grad():
        classes = model(torch.as_tensor(x[:1])).shape[-1]
    targets = np.arange(n) % classes
    a = gradient_x_input(model, x, targets).numpy()
    files = {}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"{tag}_model.safetensors"))
    files["inputs"], files["targets"], files["attributions"] = x, targets.astype(np.float64), a

    pf = quantus.PixelFlipping(features_in_step=features_in_step, disable_warnings=True)
    with Recorder("argsort", np) as argsort:
        files["pixel_flipping_curves"] = np.array(pf(model=model, x_batch=x, y_batch=targets, a_batch=a, device="cpu"))
    (order,) = [v for v in argsort.values if v.shape == (n, a[0].size)]
    files["pixel_flipping_order"] = order.astype(np.float64)
    pf_auc = quantus.PixelFlipping(features_in_step=features_in_step, return_auc_per_sample=True, disable_warnings=True)
    files["pixel_flipping_auc"] = np.array(pf_auc(model=model, x_batch=x, y_batch=targets, a_batch=a, device="cpu"))

    np.random.seed(0)
    with Recorder("choice") as choice:
        fc = quantus.FaithfulnessCorrelation(nr_runs=40, subset_size=subset_size, return_aggregate=False, disable_warnings=True)
        files["faithfulness_correlation"] = np.array(fc(model=model, x_batch=x, y_batch=targets, a_batch=a, device="cpu"))
    files["faithfulness_subsets"] = np.array(choice.values, dtype=np.float64).reshape(40, n, subset_size)

    np.random.seed(1)
    with Recorder("uniform") as uniform:
        ms = quantus.MaxSensitivity(nr_samples=10, lower_bound=0.2, disable_warnings=True)
        files["max_sensitivity"] = np.array(ms(model=model, x_batch=x, y_batch=targets, a_batch=a, device="cpu", explain_func=explain))
    files["max_sensitivity_noise"] = np.array(uniform.values).reshape(10, n, -1)

    xt, tt = torch.as_tensor(x), torch.as_tensor(targets).long()

    def rows_of(received):
        """The sample each row of Captum's expanded batch came from (matched exactly)."""
        flat_x = xt.reshape(n, -1)
        return [int(torch.nonzero((flat_x == r).all(-1))[0]) for r in received.reshape(len(received), -1)]

    def grouped(noise, samples):
        result = np.zeros((n, 10, noise.shape[1]))
        seen = [0] * n
        for row, s in zip(noise, samples):
            result[s, seen[s]] = row
            seen[s] += 1
        assert seen == [10] * n
        return result

    g1, sens_noise, sens_rows = torch.Generator().manual_seed(1), [], []

    def sens_perturb(inputs, radius):
        noise = torch.rand(inputs.shape, generator=g1) * 2 * radius - radius
        sens_noise.append(noise.reshape(len(inputs), -1).numpy().copy())
        sens_rows.extend(rows_of(inputs))
        return inputs + noise

    # Captum passes its inputs as a tuple of one tensor and expects a tuple back, as its methods do.
    explanation = lambda inputs, target: (gradient_x_input(model, inputs, target.numpy()),)
    files["captum_sensitivity"] = sensitivity_max(explanation, xt, perturb_func=sens_perturb, perturb_radius=0.02,
                                                  n_perturb_samples=10, target=tt).detach().numpy()
    files["captum_sensitivity_noise"] = grouped(np.concatenate(sens_noise), sens_rows)

    g2, inf_noise, inf_rows = torch.Generator().manual_seed(2), [], []

    def inf_perturb(inputs):
        noise = torch.randn(inputs.shape, generator=g2) * 0.1
        inf_noise.append(noise.reshape(len(inputs), -1).numpy().copy())
        inf_rows.extend(rows_of(inputs))
        return noise, inputs - noise

    files["infidelity"] = infidelity(model, inf_perturb, xt, torch.as_tensor(a), target=tt, n_perturb_samples=10).detach().numpy()
    files["infidelity_noise"] = grouped(np.concatenate(inf_noise), inf_rows)

    files["deletion_curves"] = curves(model, x, targets, a, 0.25, insertion=False)
    files["insertion_curves"] = curves(model, x, targets, a, 0.25, insertion=True)
    for name, value in files.items():
        np.save(out / f"{tag}_{name}.npy", np.asarray(value, dtype=np.float64))
    return {"architecture": architecture, "input_shape": list(x.shape[1:]), "samples": n, "features_in_step": features_in_step,
            "subset_size": subset_size}


def main():
    out.mkdir(parents=True, exist_ok=True)
    reference = {"torch": torch.__version__, "quantus": quantus.__version__, "captum": captum.__version__, "numpy": np.__version__,
                 "faithfulness_runs": 40, "max_sensitivity": {"samples": 10, "lower_bound": 0.2},
                 "captum_sensitivity": {"samples": 10, "radius": 0.02}, "infidelity": {"samples": 10, "sigma": 0.1},
                 "deletion_fraction": 0.25}
    torch.manual_seed(0)
    # Quantus reads axis 1 as channels, so the MLP's samples are [1, 20] and its first module a
    # Flatten (it holds no tensor: Isometry's state-dict reader skips index 0).
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 4))
    x = torch.randn(6, 1, 20).numpy()
    reference["mlp"] = run("mlp", mlp, x, 1, 5, "dense16,relu,dense12,relu,dense4")
    torch.manual_seed(1)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 5))
    x = torch.rand(6, 1, 8, 8).numpy()
    reference["cnn"] = run("cnn", cnn, x, 4, 16, "conv4k3,relu,maxpool2,flatten,dense5")
    (out / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
