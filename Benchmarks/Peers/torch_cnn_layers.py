"""Peer of `bench-gemm --convolution`: PyTorch's (oneDNN's) convolution and max-pool passes of
the Fashion-MNIST CNN at batch 128, float32, timed one operation at a time: the forward pass,
the input gradient and the weight (+ bias) gradient of conv32k3 on [1, 28, 28] and conv64k3 on
[32, 13, 13], and the forward and backward passes of the two 2×2 max pools (on [32, 26, 26] and
[64, 11, 11]). The gradients go through aten.convolution_backward with one output mask each,
what autograd calls in a training step. Prints one JSON object: seconds (median over calls) per
operation.
"""
import argparse, json, time, torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--seconds", type=float, default=0.4, help="target seconds of timed calls per operation")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
B = a.batch
aten = torch.ops.aten


def timed(call):
    call(); call()  # warm up: oneDNN builds its primitives on the first calls
    start = time.perf_counter(); call(); single = max(time.perf_counter() - start, 1e-6)
    times = []
    for _ in range(max(15, min(400, int(a.seconds / single)))):
        start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


result = {"library": f"torch {torch.__version__}", "threads": torch.get_num_threads(),
          "mkldnn": torch.backends.mkldnn.is_available()}
for name, c, o, size in [("conv1", 1, 32, 28), ("conv2", 32, 64, 13)]:
    x = torch.randn(B, c, size, size)
    w = torch.randn(o, c, 3, 3) * 0.1
    b = torch.randn(o) * 0.1
    y = torch.nn.functional.conv2d(x, w, b)
    g = torch.randn_like(y)
    args = (g, x, w, [o], [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    with torch.no_grad():
        result[f"{name} forward"] = timed(lambda: torch.nn.functional.conv2d(x, w, b))
        result[f"{name} input gradient"] = timed(lambda: aten.convolution_backward(*args, [True, False, False]))
        result[f"{name} weight gradient"] = timed(lambda: aten.convolution_backward(*args, [False, True, True]))
for name, c, size in [("pool1", 32, 26), ("pool2", 64, 11)]:
    x = torch.randn(B, c, size, size)
    with torch.no_grad():
        y, indices = aten.max_pool2d_with_indices(x, [2, 2], [2, 2])
        g = torch.randn_like(y)
        result[f"{name} forward"] = timed(lambda: aten.max_pool2d_with_indices(x, [2, 2], [2, 2]))
        result[f"{name} backward"] = timed(lambda: aten.max_pool2d_with_indices_backward(g, x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices))
print(json.dumps(result))
