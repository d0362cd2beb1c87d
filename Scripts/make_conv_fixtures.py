#!/usr/bin/env python3
"""Fixtures of the convolution and pooling tests: what PyTorch computes, in float64.

Tensor level (Tests/TensorAlgebraTests/Fixtures/conv), for each case <tag> a loss
sum(op(x) * c) and its gradients by autograd:
  <tag>_x.npy, <tag>_c.npy, <tag>_y.npy (op(x)), <tag>_dx.npy
  convolutions also <tag>_w.npy, <tag>_b.npy, <tag>_dw.npy, <tag>_db.npy
  max pools also <tag>_indices.npy (return_indices, flat within each plane)
Cases: conv2d with stride (2, 1) and padding (1, 0); conv2d with padding 2 and dilation 2;
conv1d with stride 2 and padding 1; max_pool2d k3 s2 p1; max_pool1d k2; avg_pool2d k3 s2 p1;
avg_pool1d k3 s2 p1; global average pooling (mean over the spatial axes).

Layer level (Tests/LayerStackTests/Fixtures), nn.Sequential CNNs saved with
save_file(model.state_dict()) and, as make_layer_fixtures.py: <tag>_inputs, _logits,
_cotangent, _input_gradient, _gradients.safetensors, _jacobians (jacrev at 2 samples):
  cnn2d_f32, cnn2d_f64: [1, 12, 12] → "conv4k3,relu,maxpool2,conv6k3p1,relu,maxpool2,flatten,dense10,relu,dense5"
  cnn1d_f64: [2, 16] → "conv3k3p1,tanh,avgpool2,conv4k3,relu,maxpool2,flatten,dense5"
  gap_f64: [2, 6, 6] → "conv3k3,relu,gap,dense4" (AdaptiveAvgPool2d(1) + Flatten as one "gap")

Seeded: running it again writes the same numbers. Needs numpy, torch, safetensors.
Usage: python3 Scripts/make_conv_fixtures.py
"""
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.set_default_dtype(torch.float64)
tensor_out = pathlib.Path("Tests/TensorAlgebraTests/Fixtures/conv")
layer_out = pathlib.Path("Tests/LayerStackTests/Fixtures")
tensor_out.mkdir(parents=True, exist_ok=True)


def save(tag, **arrays):
    for name, value in arrays.items():
        np.save(tensor_out / f"{tag}_{name}.npy", value.detach().numpy())


def conv_case(tag, seed, x_shape, w_shape, op, **kw):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*x_shape, generator=g).requires_grad_()
    w = torch.randn(*w_shape, generator=g).requires_grad_()
    b = torch.randn(w_shape[0], generator=g).requires_grad_()
    y = op(x, w, b, **kw)
    c = torch.randn(*y.shape, generator=g)
    (y * c).sum().backward()
    save(tag, x=x, w=w, b=b, y=y, c=c, dx=x.grad, dw=w.grad, db=b.grad)


def pool_case(tag, seed, x_shape, op, **kw):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*x_shape, generator=g).requires_grad_()
    if op in (F.max_pool1d, F.max_pool2d):
        y, indices = op(x, return_indices=True, **kw)
        save(tag, indices=indices.to(torch.float64))
    else:
        y = op(x, **kw)
    c = torch.randn(*y.shape, generator=g)
    (y * c).sum().backward()
    save(tag, x=x, y=y, c=c, dx=x.grad)


conv_case("conv2d_strided", 1, (2, 3, 7, 6), (4, 3, 3, 2), F.conv2d, stride=(2, 1), padding=(1, 0))
conv_case("conv2d_dilated", 2, (2, 2, 8, 8), (3, 2, 3, 3), F.conv2d, padding=2, dilation=2)
conv_case("conv1d_strided", 3, (3, 2, 11), (4, 2, 3), F.conv1d, stride=2, padding=1)
pool_case("maxpool2d", 4, (2, 3, 7, 7), F.max_pool2d, kernel_size=3, stride=2, padding=1)
pool_case("maxpool1d", 5, (2, 2, 9), F.max_pool1d, kernel_size=2)
pool_case("avgpool2d", 6, (2, 3, 7, 7), F.avg_pool2d, kernel_size=3, stride=2, padding=1)
pool_case("avgpool1d", 7, (2, 2, 9), F.avg_pool1d, kernel_size=3, stride=2, padding=1)
pool_case("gap2d", 8, (2, 3, 5, 4), lambda x: x.mean(dim=(2, 3)))


def layer_case(tag, seed, dtype, input_shape, modules):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(*modules).to(dtype)
    x = torch.randn(4, *input_shape, dtype=dtype).requires_grad_()
    c = torch.randn(4, *model(x).shape[1:], dtype=dtype)
    logits = model(x)
    (logits * c).sum().backward()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(layer_out / f"{tag}.safetensors"))
    save_file({k: p.grad.contiguous() for k, p in model.named_parameters()}, str(layer_out / f"{tag}_gradients.safetensors"))
    np.save(layer_out / f"{tag}_inputs.npy", x.detach().numpy())
    np.save(layer_out / f"{tag}_logits.npy", logits.detach().numpy())
    np.save(layer_out / f"{tag}_cotangent.npy", c.numpy())
    np.save(layer_out / f"{tag}_input_gradient.npy", x.grad.numpy())
    with torch.no_grad():
        jacobians = torch.stack([torch.func.jacrev(model)(x[i:i + 1].detach())[0, :, 0] for i in range(2)])
    np.save(layer_out / f"{tag}_jacobians.npy", jacobians.reshape(2, jacobians.shape[1], -1).numpy())


nn = torch.nn
for tag, seed, dtype in [("cnn2d_f32", 20, torch.float32), ("cnn2d_f64", 21, torch.float64)]:
    layer_case(tag, seed, dtype, (1, 12, 12), [
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(24, 10), nn.ReLU(), nn.Linear(10, 5)])
layer_case("cnn1d_f64", 22, torch.float64, (2, 16), [
    nn.Conv1d(2, 3, 3, padding=1), nn.Tanh(), nn.AvgPool1d(2), nn.Conv1d(3, 4, 3), nn.ReLU(), nn.MaxPool1d(2),
    nn.Flatten(), nn.Linear(12, 5)])
layer_case("gap_f64", 23, torch.float64, (2, 6, 6), [
    nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Linear(3, 4)])
print("wrote", len(list(tensor_out.iterdir())), "tensor fixtures and the CNN fixtures")
