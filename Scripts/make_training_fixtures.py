#!/usr/bin/env python3
"""Writes a .safetensors fixture with Python's reference `safetensors` library, so the tests
check Isometry's reader against the format's own implementation (run once, commit the file).

    ~/.venv-peers/bin/python Scripts/make_training_fixtures.py
"""
import os
import numpy as np
from safetensors.numpy import save_file

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "NetworksTests", "Fixtures")
os.makedirs(out, exist_ok=True)
tensors = {
    "layers.0.weight": (np.arange(16, dtype=np.float32).reshape(4, 4) / 8),
    "layers.0.bias": np.array([0.5, -0.5, 0.25, 0], dtype=np.float32),
    "layers.1.weight": (np.eye(4) * 1.5).astype(np.float64),
    "layers.1.bias": np.zeros(4, dtype=np.float64),
}
save_file(tensors, os.path.join(out, "python.safetensors"),
          metadata={"activation": "relu", "classes": "2", "input_features": "2", "sigma": "1.5"})
print("wrote", os.path.join(out, "python.safetensors"))
