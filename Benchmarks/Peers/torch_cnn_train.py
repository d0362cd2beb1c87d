"""Peer of `train --architecture conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10`:
the same nn.Sequential CNN (PyTorch's default initialisation) on Fashion-MNIST [1, 28, 28] images
with SGD (momentum 0.9, lr 0.05), batch 128, CrossEntropyLoss, float32, in PyTorch (CPU).

`--recipe adam` is docs/training.md's 91 % recipe instead: 'same'-padded convolutions
(conv32k3p1, conv64k3p1, dense 3136 -> 128), Adam lr 1e-3 with a cosine LambdaLR
1/2 (1 + cos(pi t / T)) stepped after every batch (T = all steps of the run), batch 64, 5 epochs
(flags given explicitly still win). It is what
`train --architecture conv32k3p1,relu,maxpool2,conv64k3p1,relu,maxpool2,flatten,dense128,relu,dense10
--optimizer adam --lr 0.001 --schedule cosine --epochs 5 --batch 64` runs.

The data order is Isometry's: epoch e visits the training images in the permutation its
SeededGenerator (xoshiro256** seeded by splitmix64 with seed + e) draws by Fisher-Yates, in full
batches, so both sides see the same batches in the same order. Pixels are byte / 255 in float32,
as Isometry gathers them. The test set is evaluated in chunks of --eval-chunk images under
no_grad (Isometry evaluates in chunks of at most 1,000 too; the whole 10,000 at once would make
the peak RSS the evaluation's: about 2.2 GB, the first conv's output alone 865 MB). Prints
samples/s of the training steps and the test accuracy after every epoch.
"""
import argparse, math, time, numpy as np, torch

from isometry_data import idx_file, seeded_permutation

RECIPES = {  # defaults per recipe; a flag given on the command line overrides them
    "sgd": dict(batch=128, lr=0.05, momentum=0.9, epochs=1, padding=0, optimizer="sgd", schedule="constant"),
    "adam": dict(batch=64, lr=1e-3, momentum=0.0, epochs=5, padding=1, optimizer="adam", schedule="cosine"),
}
p = argparse.ArgumentParser()
p.add_argument("--recipe", choices=sorted(RECIPES), default="sgd")
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--batch", type=int)
p.add_argument("--lr", type=float)
p.add_argument("--momentum", type=float)
p.add_argument("--epochs", type=int)
p.add_argument("--padding", type=int, choices=[0, 1])
p.add_argument("--optimizer", choices=["sgd", "adam"])
p.add_argument("--schedule", choices=["constant", "cosine"])
p.add_argument("--seed", type=int, default=0)
p.add_argument("--limit", type=int, default=60000)
p.add_argument("--threads", type=int, default=0)
p.add_argument("--eval-chunk", type=int, default=1000)
a = p.parse_args()
for key, value in RECIPES[a.recipe].items():
    if getattr(a, key) is None: setattr(a, key, value)
if a.threads: torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
xtr = torch.from_numpy(idx_file(f"{a.data}/train-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28)[: a.limit].astype(np.float32) / np.float32(255))
ytr = torch.from_numpy(idx_file(f"{a.data}/train-labels-idx1-ubyte.gz")[: a.limit].astype(np.int64))
xte = torch.from_numpy(idx_file(f"{a.data}/t10k-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255))
yte = torch.from_numpy(idx_file(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
nn = torch.nn
side = 7 if a.padding else 5  # 28 -> conv -> pool -> conv -> pool
model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=a.padding), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(32, 64, 3, padding=a.padding), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, 10))
if a.optimizer == "sgd":
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
else:
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
lossf = torch.nn.CrossEntropyLoss()
n = len(xtr)
steps = n // a.batch
total = steps * a.epochs
# Isometry's cosine: the rate of step t is lr * 1/2 (1 + cos(pi t / T)), t counted from 0.
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / total))) if a.schedule == "cosine" else None
train_seconds = 0.0
for ep in range(a.epochs):
    order = torch.tensor(seeded_permutation(n, a.seed + ep))  # drawn outside the timed loop, as Isometry's
    t = time.perf_counter()
    for k in range(steps):
        b = order[k * a.batch: (k + 1) * a.batch]
        loss = lossf(model(xtr[b]), ytr[b])
        opt.zero_grad(); loss.backward(); opt.step()
        if sched: sched.step()
    train_seconds += time.perf_counter() - t
    with torch.no_grad():
        correct = sum((model(xte[i: i + a.eval_chunk]).argmax(1) == yte[i: i + a.eval_chunk]).sum().item()
                      for i in range(0, len(xte), a.eval_chunk))
    acc = correct / len(xte)
    print(f"epoch {ep + 1}: accuracy on the test set {acc:.4f}", flush=True)  # not "test accuracy": bench-train reads the final line's
p1 = "p1" if a.padding else ""
print(f"torch {torch.__version__} threads={torch.get_num_threads()} model=conv32k3{p1},relu,maxpool2,conv64k3{p1},relu,maxpool2,flatten,dense128,relu,dense10 "
      f"{a.optimizer} lr={a.lr} schedule={a.schedule} batch={a.batch} epochs={a.epochs}")
print(f"train samples/s {a.epochs * steps * a.batch / train_seconds:.0f}  test accuracy {acc:.4f}  last loss {loss.item():.4f}")
