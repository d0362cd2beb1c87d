#!/usr/bin/env python3
"""Reference optimizer steps for the layer-stack trainer (Tests/TrainingTests/StackOptimizerPyTorchTests):
a small MLP 6 -> 5 -> 4 -> 3 (ReLU, biases), its initial state dict, three batches, and the
state dict after each of three steps of torch.optim.SGD (momentum, weight decay), Adam (L2
decay) and AdamW, with CrossEntropyLoss (labels stored as floats: safetensors readers here take F32/F64), plus SGD on MSELoss against float targets; in
float64 and float32. Seeded; run with the project's venv and commit the output:

    /work/venv-stack/bin/python Scripts/make_optimizer_fixtures.py
"""
import json, pathlib
import torch
from safetensors.torch import save_file

out = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "StackOptimizers"
out.mkdir(parents=True, exist_ok=True)
STEPS, BATCH = 3, 8
CASES = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01), "ce"),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01), "ce"),
    "adamw": (lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1), "ce"),
    "sgd-mse": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5), "mse"),
}
reference = {}
for dtype, name in [(torch.float64, "float64"), (torch.float32, "float32")]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.ReLU(),
                                torch.nn.Linear(4, 3)).to(dtype)
    initial = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    x = torch.randn(STEPS, BATCH, 6, dtype=dtype)
    y = torch.randint(0, 3, (STEPS, BATCH))
    t = torch.randn(STEPS, BATCH, 3, dtype=dtype)
    save_file(initial, str(out / f"initial-{name}.safetensors"))
    save_file({"x": x, "labels": y.to(dtype), "targets": t}, str(out / f"batches-{name}.safetensors"))
    for case, (make, loss_name) in CASES.items():
        model.load_state_dict(initial)
        opt = make(model.parameters())
        after, losses = {}, []
        for k in range(STEPS):
            out_k = model(x[k])
            loss = torch.nn.functional.cross_entropy(out_k, y[k]) if loss_name == "ce" else torch.nn.functional.mse_loss(out_k, t[k])
            opt.zero_grad(); loss.backward(); opt.step()
            losses.append(loss.item())
            after |= {f"step{k + 1}.{n}": v.detach().clone().contiguous() for n, v in model.state_dict().items()}
        save_file(after, str(out / f"{case}-{name}.safetensors"))
        reference[f"{case}-{name}"] = losses
(out / "reference.json").write_text(json.dumps({"torch": torch.__version__, "losses": reference}, indent=1) + "\n")
print("wrote", out)
