"""Reference trainer for `bench-train --model mlp`: an MLP 784 -> 1000 -> 300 -> 10 (ReLU, biases,
PyTorch's default initialisation) on Fashion-MNIST with SGD (momentum 0.9, lr 0.05), batch 128,
CrossEntropyLoss, float32, in PyTorch (CPU).

The data order is Isometry's: epoch e visits the training images in the permutation its
SeededGenerator (xoshiro256** seeded by splitmix64 with seed + e) draws by Fisher-Yates, in full
batches, so both sides see the same batches in the same order. Pixels are byte / 255 in float32,
as Isometry gathers them. Prints samples/s of the training steps and the test accuracy after
every epoch.
"""
import argparse, time, numpy as np, torch

from isometry_data import idx_file, seeded_permutation

p = argparse.ArgumentParser()
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--widths", default="1000,300")
p.add_argument("--batch", type=int, default=128)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--limit", type=int, default=60000)
p.add_argument("--threads", type=int, default=0)
a = p.parse_args()
if a.threads: torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
xtr = torch.from_numpy(idx_file(f"{a.data}/train-images-idx3-ubyte.gz").reshape(-1, 784)[: a.limit].astype(np.float32) / np.float32(255))
ytr = torch.from_numpy(idx_file(f"{a.data}/train-labels-idx1-ubyte.gz")[: a.limit].astype(np.int64))
xte = torch.from_numpy(idx_file(f"{a.data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / np.float32(255))
yte = torch.from_numpy(idx_file(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
widths = [784] + [int(w) for w in a.widths.split(",")] + [10]
layers = []
for i in range(len(widths) - 1):
    if i > 0: layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
model = torch.nn.Sequential(*layers)
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
lossf = torch.nn.CrossEntropyLoss()
n = len(xtr)
steps = n // a.batch
train_seconds = 0.0
for ep in range(a.epochs):
    order = torch.tensor(seeded_permutation(n, a.seed + ep))  # drawn outside the timed loop, as Isometry's
    t = time.perf_counter()
    for k in range(steps):
        b = order[k * a.batch: (k + 1) * a.batch]
        loss = lossf(model(xtr[b]), ytr[b])
        opt.zero_grad(); loss.backward(); opt.step()
    train_seconds += time.perf_counter() - t
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {ep + 1}: accuracy on the test set {acc:.4f}")  # not "test accuracy": bench-train reads the final line's
print(f"torch {torch.__version__} threads={torch.get_num_threads()} widths={widths} batch={a.batch}")
print(f"train samples/s {a.epochs * steps * a.batch / train_seconds:.0f}  test accuracy {acc:.4f}  last loss {loss.item():.4f}")
