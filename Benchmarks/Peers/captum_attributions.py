#!/usr/bin/env python3
"""Captum 0.9's attributions of two small PyTorch networks in float64: the reference of
Isometry's attribution methods (Tests/InterpretationTests/AttributionMethodTests.swift).

Networks (random weights, seeded; saved in float32 and read exactly in double by both sides):
  mlp: [10] -> "dense16,relu,dense12,hard-tanh,dense4" (the second layer scaled x3 so that
       hard-tanh units saturate and carry their +-1 into the bias)
  cnn: [1, 8, 8] -> "conv3k3p1,relu,maxpool2,conv4k3,relu,flatten,dense5"
Per network, in Tests/Fixtures/Attribution/<tag>_*.npy (all float64; indices exact integers):
  model.safetensors                 the state dict (float32)
  inputs, targets, baseline         float64 inputs [n] + shape, one target per input, one
                                    non-zero baseline of the input's shape
  saliency                          Saliency(abs=False)
  input_x_gradient                  InputXGradient
  ig_<rule>_<steps>_<zero|base>     IntegratedGradients, rule in gausslegendre, riemann_trapezoid,
                                    riemann_left, riemann_right, riemann_middle; 16 and 50 steps
  nodes_<rule>_<steps>              [2, steps]: Captum's alphas and step sizes (as Python floats)
  smoothgrad, smoothgrad_noise      NoiseTunnel(Saliency(abs=False)) 'smoothgrad', 5 samples,
                                    stdevs 0.3, and the noise torch.normal drew ([n * 5] + shape,
                                    sample i's draws in rows 5i ..< 5i + 5, as repeat_interleave)
  smoothgrad_ixg, smoothgrad_ixg_noise   the same over InputXGradient, 3 samples, stdevs 0.2
  occlusion_a, occlusion_b          Occlusion: mlp windows (3,) stride 2 baseline 0 and (2,)
                                    stride 1 baseline 0.5; cnn (1, 3, 3) strides (1, 2, 2)
                                    baseline 0 (the last window cropped at the edge, as Captum's
                                    negative padding does) and (1, 2, 2) stride 1 baseline -0.2
Captum rounds two things to float32 whatever the inputs' dtype: IntegratedGradients' step
sizes (`torch.tensor(step_sizes).float()`) and Occlusion's result (`format_result`:
`total_attrib.float() / weight`); Riemann alphas come from a float32 `torch.linspace`.

Seeded: a rerun writes the same numbers. Needs torch, captum 0.9, numpy, safetensors:
/root/.venv-peers/bin/python Benchmarks/Peers/captum_attributions.py
"""
import json, pathlib, sys
import numpy as np
import torch
from safetensors.torch import save_file
import captum
from captum.attr import Saliency, InputXGradient, IntegratedGradients, NoiseTunnel, Occlusion
from captum.attr._utils.approximation_methods import approximation_parameters
import captum.attr._core.noise_tunnel as noise_tunnel

root = pathlib.Path(__file__).resolve().parent.parent.parent
out = root / "Tests" / "Fixtures" / "Attribution"
nn = torch.nn
torch.set_num_threads(1)
RULES = ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"]


def recorded_noise(run):
    """Runs `run()` with torch.normal recording what it draws; returns (result, noise)."""
    draws = []
    original = torch.normal

    def normal(*args, **kwargs):
        value = original(*args, **kwargs)
        draws.append(value)
        return value

    noise_tunnel.torch.normal = normal
    try:
        result = run()
    finally:
        noise_tunnel.torch.normal = original
    assert len(draws) == 1, f"{len(draws)} draws"
    return result, draws[0]


def write(tag, model, architecture, inputs, occlusions):
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.float().state_dict().items()}, str(out / f"{tag}_model.safetensors"))
    model = model.double().eval()
    x = inputs.double()
    n = len(x)
    g = torch.Generator().manual_seed(11)
    outputs = model(x).shape[1]
    targets = torch.randint(0, outputs, (n,), generator=g)
    baseline = (0.5 * torch.randn(x.shape[1:], generator=g)).double()
    arrays = {"inputs": x, "targets": targets.double(), "baseline": baseline}
    t = targets.tolist()
    arrays["saliency"] = Saliency(model).attribute(x, target=t, abs=False)
    arrays["input_x_gradient"] = InputXGradient(model).attribute(x, target=t)
    ig = IntegratedGradients(model)
    for rule in RULES:
        for steps in (16, 50):
            sizes, alphas = approximation_parameters(rule)
            arrays[f"nodes_{rule}_{steps}"] = torch.tensor([alphas(steps), sizes(steps)], dtype=torch.float64)
            for name, base in (("zero", None), ("base", baseline[None])):
                arrays[f"ig_{rule}_{steps}_{name}"] = ig.attribute(x, baselines=base, target=t, n_steps=steps, method=rule)
    torch.manual_seed(5)
    smooth, noise = recorded_noise(lambda: NoiseTunnel(Saliency(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=5, stdevs=0.3, target=t, abs=False))
    arrays["smoothgrad"], arrays["smoothgrad_noise"] = smooth, noise.double()
    smooth, noise = recorded_noise(lambda: NoiseTunnel(InputXGradient(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=3, stdevs=0.2, target=t))
    arrays["smoothgrad_ixg"], arrays["smoothgrad_ixg_noise"] = smooth, noise.double()
    for name, (window, strides, base) in zip("ab", occlusions):
        arrays[f"occlusion_{name}"] = Occlusion(model).attribute(
            x, sliding_window_shapes=tuple(window), strides=tuple(strides), baselines=base, target=t).double()
    for key, value in arrays.items():
        np.save(out / f"{tag}_{key}.npy", value.detach().numpy().astype(np.float64))
    reference = {"architecture": architecture, "input_shape": list(x.shape[1:]), "inputs": n, "occlusions": occlusions,
                 "torch": torch.__version__, "captum": captum.__version__}
    (out / f"{tag}_reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {out}/{tag}_* ({len(arrays)} arrays)", file=sys.stderr)


def main():
    torch.manual_seed(3)
    mlp = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 12), nn.Hardtanh(), nn.Linear(12, 4))
    with torch.no_grad():
        mlp[2].weight.mul_(3)
    write("mlp", mlp, "dense16,relu,dense12,hard-tanh,dense4", torch.randn(6, 10),
          [[[3], [2], 0.0], [[2], [1], 0.5]])
    torch.manual_seed(4)
    cnn = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3), nn.ReLU(),
                        nn.Flatten(), nn.Linear(16, 5))
    write("cnn", cnn, "conv3k3p1,relu,maxpool2,conv4k3,relu,flatten,dense5", torch.randn(4, 1, 8, 8),
          [[[1, 3, 3], [1, 2, 2], 0.0], [[1, 2, 2], [1, 1, 1], -0.2]])


if __name__ == "__main__":
    main()
