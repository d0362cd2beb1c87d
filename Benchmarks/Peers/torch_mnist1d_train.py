"""Peer of `train --data data/mnist1d --architecture ...` (or `--widths ...`) on MNIST-1D: the same
nn.Sequential (PyTorch's default initialisation) on the same .npy files (Scripts/make_mnist1d.py),
with Adam or SGD, a constant or cosine learning rate, CrossEntropyLoss, float32, on the CPU.

The data order is Isometry's: epoch e visits the training sequences in the permutation its
SeededGenerator draws from seed + e, in full batches (isometry_data.seeded_permutation). The
cosine schedule is Isometry's: lr·½(1 + cos(π·t/T)) at update t of T = epochs × full batches.
Sequences are [1, 40] for convolutions, [40] for --widths. Prints the test accuracy after every
epoch and the training time.

  python Benchmarks/Peers/torch_mnist1d_train.py --data data/mnist1d \
      --architecture conv25k5s2p1,relu,conv25k3s2p1,relu,conv25k3s2p1,relu,flatten,dense10 \
      --optimizer adam --lr 0.01 --batch 100 --epochs 200
"""
import argparse, math, re, time, numpy as np, torch

from isometry_data import seeded_permutation

p = argparse.ArgumentParser()
p.add_argument("--data", default="data/mnist1d")
p.add_argument("--architecture", help="conv<out>k<k>[s<stride>][p<padding>], maxpool<k>, relu, flatten, dense<n>")
p.add_argument("--widths", help="hidden widths of a ReLU MLP, e.g. 100,100")
p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
p.add_argument("--momentum", type=float, default=0.0)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
p.add_argument("--batch", type=int, default=100)
p.add_argument("--epochs", type=int, default=200)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
nn = torch.nn

xtr = torch.from_numpy(np.load(f"{a.data}/x_train.npy").astype(np.float32))
ytr = torch.from_numpy(np.load(f"{a.data}/y_train.npy").astype(np.int64))
xte = torch.from_numpy(np.load(f"{a.data}/x_test.npy").astype(np.float32))
yte = torch.from_numpy(np.load(f"{a.data}/y_test.npy").astype(np.int64))


def build(architecture, shape):
    """The nn.Sequential of an architecture string (the tokens this script needs) on `shape`."""
    modules = []
    for token in architecture.split(","):
        if m := re.fullmatch(r"conv(\d+)k(\d+)((?:[sp]\d+)*)", token):
            settings = dict((k, int(v)) for k, v in re.findall(r"([sp])(\d+)", m.group(3)))
            modules.append(nn.Conv1d(shape[0], int(m.group(1)), int(m.group(2)), stride=settings.get("s", 1), padding=settings.get("p", 0)))
        elif m := re.fullmatch(r"maxpool(\d+)", token):
            modules.append(nn.MaxPool1d(int(m.group(1))))
        elif token == "relu":
            modules.append(nn.ReLU())
        elif token == "flatten":
            modules.append(nn.Flatten())
        elif m := re.fullmatch(r"dense(\d+)", token):
            modules.append(nn.Linear(shape[0], int(m.group(1))))
        else:
            raise SystemExit(f"token {token!r} is not one this peer builds")
        with torch.no_grad():
            shape = list(modules[-1](torch.zeros([1] + shape)).shape[1:])
    return nn.Sequential(*modules)


if a.architecture:
    xtr, xte = xtr.reshape(-1, 1, 40), xte.reshape(-1, 1, 40)
    model, name = build(a.architecture, [1, 40]), a.architecture
else:
    widths = [40] + [int(w) for w in a.widths.split(",")] + [10]
    modules = []
    for i in range(len(widths) - 1):
        modules += [nn.Linear(widths[i], widths[i + 1])] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    model, name = nn.Sequential(*modules), "MLP " + " → ".join(map(str, widths))
opt = (torch.optim.Adam(model.parameters(), lr=a.lr) if a.optimizer == "adam"
       else torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum))
n = len(xtr)
steps = n // a.batch
total = steps * a.epochs
rate = (lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total) / total))) if a.schedule == "cosine" else (lambda t: 1.0)
schedule = torch.optim.lr_scheduler.LambdaLR(opt, rate)
lossf = nn.CrossEntropyLoss()
print(f"torch {torch.__version__}: {name} ({sum(p.numel() for p in model.parameters())} parameters), "
      f"{a.optimizer} lr {a.lr} {a.schedule}, batch {a.batch}, {a.epochs} epochs, seed {a.seed}, threads {torch.get_num_threads()}")
seconds = 0.0
for ep in range(a.epochs):
    order = torch.tensor(seeded_permutation(n, a.seed + ep))
    t = time.perf_counter()
    for k in range(steps):
        b = order[k * a.batch: (k + 1) * a.batch]
        loss = lossf(model(xtr[b]), ytr[b])
        opt.zero_grad(); loss.backward(); opt.step(); schedule.step()
    seconds += time.perf_counter() - t
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    if (ep + 1) % 10 == 0 or ep + 1 == a.epochs:
        print(f"epoch {ep + 1}: test accuracy {100 * acc:.2f} %")
print(f"test accuracy {100 * acc:.2f} %  training {seconds:.1f} s")
