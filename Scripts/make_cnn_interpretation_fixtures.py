#!/usr/bin/env python3
"""Fixtures of the CNN interpreter's tests: what PyTorch computes for convolutional nn.Sequential
networks, the independent reference of the exact linearisation and the switched projections.

Small networks (Tests/Fixtures/CNNInterpretation/<tag>_*), random weights, float32 values (so the
float64 reference is the same network, read exactly in double):
  cnn2d: [2, 12, 12] -> "conv4k3p1,hard-tanh,maxpool3s2,conv6k3,relu,avgpool2s1,flatten,dense8,leaky-relu:0.1,dense5"
         the first convolution's weights are scaled so that most hard-tanh units saturate, and
         the overlapping 3x3/2 max pool picks saturated winners, whose +-1 goes into b(x)
  cnn1d: [2, 40] -> "conv3k5s2,leaky-relu:0.05,maxpool2,conv4k3p2d2,identity,gap,dense3"
         (gap: a module of one line, x.mean(-1), as Isometry's one-token global average pool)
Trained network (Tests/Fixtures/FashionCNN/), the Fashion-MNIST CNN of issue 20,
  "conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10" on [1, 28, 28],
  trained one epoch (SGD lr 0.05 momentum 0.9, batch 128, torch.manual_seed(0)) as
  Benchmarks/Peers/torch_cnn_train.py does, saved with save_file(model.state_dict()).

Files per network:
  model.safetensors      the state dict (float32)
  inputs.npy             [n] + input shape, float32 (Fashion-MNIST: test images 0 ..< n, byte / 255)
  outputs.npy            [n, outputs] float32 forward pass
  jacobians32.npy        [n, outputs] + input shape: vmap(jacrev(model)) in float32
  jacobians64.npy        [n64, outputs] + input shape: jacrev of model.double() (first n64 inputs)
  unit_layers.npy, unit_indices.npy, unit_samples.npy   random units: module index, flat index
                         within its output, input row (float64, exact integers)
  unit_values64.npy      their values (module outputs) in float64
  unit_gradients64.npy   [units, inputs] d value / d input in float64 (the first 64 units)
  reference.json         architecture, input shape, counts, accuracy (trained network)
Channel maps of the trained network (--channel-maps: reads the committed FashionCNN model.safetensors
and inputs.npy, trains nothing), in float64, for test images 0 and 1 and their predicted class k:
  channel_contributions64_layer{0,3}.npy   [2] + conv output shape: dF_k/dh * h, h the convolution's output
  channel_insens64_layer{0,3}.npy          [2, channels, 784]: per channel, the mean over its units with
                                           h <= 0 (entering the ReLU inactive) of (h_i / |w_i|^2) w_i,
                                           w_i = dh_i/dx (jacrev), units with w_i = 0 left out
  channel_insens_units_layer{0,3}.npy      [2, channels]: how many units each mean is over

Seeded: running it again writes the same numbers (the training too, on the same torch and threads).
Needs torch, numpy, safetensors: /work/venv-stack/bin/python Scripts/make_cnn_interpretation_fixtures.py
[--small-only | --fashion-only].
"""
import gzip, json, pathlib, sys
import numpy as np
import torch
from safetensors.torch import save_file

root = pathlib.Path(__file__).resolve().parent.parent
nn = torch.nn
torch.set_num_threads(2)


class GlobalAveragePool(nn.Module):
    """Isometry's `gap`: the mean of every channel over its positions, [C, ...] -> [C]."""
    def forward(self, x):
        return x.flatten(2).mean(-1)


def idx(name, data=pathlib.Path("/usr/share/datasets/fashion-mnist")):
    raw = gzip.open(data / name).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write(out, tag, model, architecture, inputs, n64, units, gradient_units, extra=None):
    """Writes the reference numbers of `model` at `inputs` (float32 tensor [n] + shape)."""
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"{tag}_" if tag else ""
    model = model.float().eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"{prefix}model.safetensors"))
    with torch.no_grad():
        outputs = model(inputs)
    jac = torch.func.vmap(torch.func.jacrev(lambda x: model(x[None])[0]))
    jacobians32 = jac(inputs)
    double = model.double()
    x64 = inputs.double()
    jacobians64 = torch.stack([torch.func.jacrev(lambda x: double(x[None])[0])(x64[i]) for i in range(n64)])
    # Random units of every module's output, and their values and input gradients in float64.
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        values = []
        h = x64
        for m in double:
            h = m(h)
            values.append(h.reshape(len(x64), -1))
    layers = torch.randint(0, len(double), (units,), generator=g)
    samples = torch.randint(0, len(x64), (units,), generator=g)
    indices = torch.stack([torch.randint(0, values[l].shape[1], (1,), generator=g)[0] for l in layers.tolist()])
    unit_values = torch.stack([values[l][s, i] for l, s, i in zip(layers.tolist(), samples.tolist(), indices.tolist())])
    gradients = []
    for l, s, i in list(zip(layers.tolist(), samples.tolist(), indices.tolist()))[:gradient_units]:
        prefix_net = double[: l + 1]
        gradients.append(torch.func.grad(lambda x: prefix_net(x[None]).reshape(-1)[i])(x64[s]).reshape(-1))
    np.save(out / f"{prefix}inputs.npy", inputs.numpy())
    np.save(out / f"{prefix}outputs.npy", outputs.numpy())
    np.save(out / f"{prefix}jacobians32.npy", jacobians32.detach().numpy())
    np.save(out / f"{prefix}jacobians64.npy", jacobians64.detach().numpy())
    # Indices as float64 (exact below 2^53), read like every other array of the tests.
    np.save(out / f"{prefix}unit_layers.npy", layers.numpy().astype(np.float64))
    np.save(out / f"{prefix}unit_samples.npy", samples.numpy().astype(np.float64))
    np.save(out / f"{prefix}unit_indices.npy", indices.numpy().astype(np.float64))
    np.save(out / f"{prefix}unit_values64.npy", unit_values.detach().numpy())
    np.save(out / f"{prefix}unit_gradients64.npy", torch.stack(gradients).detach().numpy())
    reference = {"architecture": architecture, "input_shape": list(inputs.shape[1:]), "inputs": len(inputs),
                 "float64_inputs": n64, "units": units, "unit_gradients": gradient_units, "torch": torch.__version__}
    reference.update(extra or {})
    (out / f"{prefix}reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {out}/{prefix}*", file=sys.stderr)


def small():
    out = root / "Tests" / "Fixtures" / "CNNInterpretation"
    torch.manual_seed(1)
    cnn2d = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Hardtanh(), nn.MaxPool2d(3, stride=2), nn.Conv2d(4, 6, 3), nn.ReLU(),
                          nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(24, 8), nn.LeakyReLU(0.1), nn.Linear(8, 5))
    with torch.no_grad():
        cnn2d[0].weight.mul_(4)  # most hard-tanh units saturate
    x = torch.randn(6, 2, 12, 12)
    write(out, "cnn2d", cnn2d, "conv4k3p1,hard-tanh,maxpool3s2,conv6k3,relu,avgpool2s1,flatten,dense8,leaky-relu:0.1,dense5",
          x, n64=6, units=200, gradient_units=64)
    torch.manual_seed(2)
    cnn1d = nn.Sequential(nn.Conv1d(2, 3, 5, stride=2), nn.LeakyReLU(0.05), nn.MaxPool1d(2), nn.Conv1d(3, 4, 3, padding=2, dilation=2),
                          nn.Identity(), GlobalAveragePool(), nn.Linear(4, 3))
    x = torch.randn(6, 2, 40)
    write(out, "cnn1d", cnn1d, "conv3k5s2,leaky-relu:0.05,maxpool2,conv4k3p2d2,identity,gap,dense3", x, n64=6, units=100, gradient_units=64)


def fashion():
    out = root / "Tests" / "Fixtures" / "FashionCNN"
    x_train = torch.tensor(idx("train-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255))
    y_train = torch.tensor(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    x_test = torch.tensor(idx("t10k-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255))
    y_test = torch.tensor(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(1))
    for start in range(0, len(order) - 127, 128):
        batch = order[start:start + 128]
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predictions = model(x_test).argmax(1)
    correct = int((predictions == y_test).sum())
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "predictions.npy", predictions.numpy().astype(np.float64))
    write(out, "", model, "conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10", x_test[:100],
          n64=10, units=1000, gradient_units=32,
          extra={"training": "one epoch of SGD, lr 0.05, momentum 0.9, batch 128, torch.manual_seed(0), order randperm seed 1",
                 "test_accuracy": correct / len(y_test), "correct": correct})


def channel_maps():
    out = root / "Tests" / "Fixtures" / "FashionCNN"
    from safetensors.torch import load_file
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    model.load_state_dict(load_file(str(out / "model.safetensors")))
    model = model.double().eval()
    x = torch.tensor(np.load(out / "inputs.npy")[:2]).double()
    for layer in (0, 3):
        below, above = model[:layer + 1], model[layer + 1:]
        contributions, insens, units = [], [], []
        for i in range(len(x)):
            h = below(x[i:i + 1])[0].detach()
            k = int(model(x[i:i + 1])[0].argmax())
            g = torch.func.jacrev(lambda v: above(v[None])[0, k])(h)
            contributions.append((g * h).detach().numpy())
            w = torch.func.jacrev(lambda v: below(v[None])[0])(x[i]).reshape(h.numel(), -1).detach()
            flat, norms = h.reshape(-1), (w * w).sum(1)
            chosen = (flat <= 0) & (norms > 0)
            omega = (flat / torch.where(norms > 0, norms, 1))[:, None] * w
            per = h[0].numel()
            maps, counts = [], []
            for c in range(h.shape[0]):
                mask = chosen[c * per:(c + 1) * per]
                counts.append(int(mask.sum()))
                part = omega[c * per:(c + 1) * per][mask]
                maps.append((part.sum(0) / max(counts[-1], 1)).detach().numpy())
            insens.append(np.stack(maps))
            units.append(counts)
        np.save(out / f"channel_contributions64_layer{layer}.npy", np.stack(contributions))
        np.save(out / f"channel_insens64_layer{layer}.npy", np.stack(insens))
        np.save(out / f"channel_insens_units_layer{layer}.npy", np.array(units, dtype=np.float64))


if __name__ == "__main__":
    if "--channel-maps" in sys.argv:
        channel_maps()
        sys.exit(0)
    if "--fashion-only" not in sys.argv:
        small()
    if "--small-only" not in sys.argv:
        fashion()
