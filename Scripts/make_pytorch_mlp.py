#!/usr/bin/env python3
"""A PyTorch MLP 784 -> 1000 -> 300 -> 10 (ReLU, biases), trained one epoch on Fashion-MNIST and
saved the way a PyTorch user saves it (safetensors.torch.save_file(model.state_dict())), with the
reference numbers Isometry is checked against: test accuracy and predictions on all 10,000 test
images, logits of the first 100, and torch.func.jacrev W(x) of the first 8 (float32).

Seeded; needs torch, numpy, safetensors (Benchmarks/Peers/README.md). Writes
Tests/Fixtures/PyTorchMLP/{model.safetensors, predictions.npy, logits.npy, inputs.npy,
jacobians.npy, reference.json}.
"""
import gzip, json, pathlib, sys
import numpy as np
import torch
from safetensors.torch import save_file

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "Tests" / "Fixtures" / "PyTorchMLP"
out.mkdir(parents=True, exist_ok=True)
data = pathlib.Path("/usr/share/datasets/fashion-mnist")

def idx(name):
    raw = gzip.open(data / name).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)

# Inputs exactly as Isometry reads byte images: pixel / 255 in float32.
x_train = torch.tensor(idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / np.float32(255))
y_train = torch.tensor(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
x_test = torch.tensor(idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / np.float32(255))
y_test = torch.tensor(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))

torch.manual_seed(0)
torch.set_num_threads(2)
model = torch.nn.Sequential(
    torch.nn.Linear(784, 1000), torch.nn.ReLU(),
    torch.nn.Linear(1000, 300), torch.nn.ReLU(),
    torch.nn.Linear(300, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(1))
for start in range(0, len(order) - 127, 128):
    batch = order[start:start + 128]
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
    loss.backward()
    optimizer.step()

model.eval()
with torch.no_grad():
    logits = model(x_test)
predictions = logits.argmax(dim=1)
accuracy = (predictions == y_test).float().mean().item()
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
np.save(out / "predictions.npy", predictions.numpy().astype(np.int64))
np.save(out / "logits.npy", logits[:100].numpy())
np.save(out / "inputs.npy", x_test[:8].numpy())
jacobians = torch.stack([torch.func.jacrev(model)(x_test[i]) for i in range(8)])
np.save(out / "jacobians.npy", jacobians.detach().numpy())
(out / "reference.json").write_text(json.dumps({
    "architecture": "784-1000-300-10 ReLU MLP with biases, torch.nn.Sequential",
    "training": "one epoch of SGD, lr 0.05, momentum 0.9, batch 128, torch.manual_seed(0)",
    "torch": torch.__version__,
    "test_accuracy": accuracy,
    "correct": int((predictions == y_test).sum()),
}, indent=2) + "\n")
print(f"test accuracy {accuracy:.4f}; wrote {out}", file=sys.stderr)
