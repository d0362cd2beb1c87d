"""Fixtures of t-SNE's objective for Tests/TrainingTests (TSNEObjectiveTests).

Writes Tests/TrainingTests/Fixtures/tsne/*.npy:
  x.npy              [24, 12] float64 integer-valued inputs (their squared distances are exact
                     in float32, so scikit-learn's float32 search and Isometry's agree to rounding)
  conditional.npy    p_j|i from sklearn.manifold._utils._binary_search_perplexity, perplexity 5
  joint.npy          P from sklearn.manifold._t_sne._joint_probabilities (squareform, p_ii = 0)
  y.npy              [24, 2] float64 outputs
  kl_<a>.npy, grad_<a>.npy   KL(P||Q) and dKL/dY from PyTorch autograd, alpha in {1, 0.5, 3}

Run: /root/.venv-peers/bin/python Benchmarks/Peers/tsne_fixtures.py
"""
import os
import numpy as np
import torch
from scipy.spatial.distance import squareform
from sklearn.manifold._utils import _binary_search_perplexity
from sklearn.manifold._t_sne import _joint_probabilities

out = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrainingTests", "Fixtures", "tsne")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(25)
n, d, perplexity = 24, 12, 5.0
centres = rng.integers(0, 4, size=(3, d))
x = (centres[rng.integers(0, 3, size=n)] + rng.integers(0, 2, size=(n, d))).astype(np.float64)
sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
conditional = _binary_search_perplexity(sq.astype(np.float32), perplexity, 0)
joint = squareform(_joint_probabilities(sq.astype(np.float32), perplexity, 0))
y = rng.normal(size=(n, 2)) * 2.0
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "conditional.npy"), conditional.astype(np.float64))
np.save(os.path.join(out, "joint.npy"), joint.astype(np.float64))
np.save(os.path.join(out, "y.npy"), y)

p = torch.tensor(joint, dtype=torch.float64)
off = ~torch.eye(n, dtype=torch.bool)
for alpha, tag in [(1.0, "1"), (0.5, "0.5"), (3.0, "3")]:
    yt = torch.tensor(y, requires_grad=True)
    d2 = ((yt[:, None, :] - yt[None, :, :]) ** 2).sum(-1)
    w = (1 + d2 / alpha) ** (-(alpha + 1) / 2)
    w = w * off
    q = w / w.sum()
    kl = (p[off] * torch.log(p[off] / q[off])).sum()
    kl.backward()
    np.save(os.path.join(out, f"kl_{tag}.npy"), np.array([kl.item()]))
    np.save(os.path.join(out, f"grad_{tag}.npy"), yt.grad.numpy())
    print(alpha, kl.item())

# Embedding quality (EmbeddingQualityTests): 200 points of 10 values in 4 clusters, a noisy 2-D
# projection of them, labels; scikit-learn's trustworthiness and k-NN accuracies.
from sklearn.manifold import trustworthiness
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

labels = rng.integers(0, 4, size=200)
centres = rng.normal(size=(4, 10)) * 3
points = centres[labels] + rng.normal(size=(200, 10))
embedding = points[:, :2] + rng.normal(size=(200, 2)) * 1.5
references = rng.normal(size=(300, 2)) * 3
reference_labels = rng.integers(0, 4, size=300)
np.save(os.path.join(out, "quality_points.npy"), points)
np.save(os.path.join(out, "quality_embedding.npy"), embedding)
np.save(os.path.join(out, "quality_labels.npy"), labels.astype(np.int64))
np.save(os.path.join(out, "quality_references.npy"), references)
np.save(os.path.join(out, "quality_reference_labels.npy"), reference_labels.astype(np.int64))
values = [trustworthiness(points, embedding, n_neighbors=12), trustworthiness(points, embedding, n_neighbors=5)]
for k in (1, 10):
    values.append(cross_val_score(KNeighborsClassifier(n_neighbors=k), embedding, labels, cv=LeaveOneOut()).mean())
for k in (1, 10):
    values.append(KNeighborsClassifier(n_neighbors=k).fit(references, reference_labels).score(embedding, labels))
np.save(os.path.join(out, "quality_sklearn.npy"), np.array(values))
print("trustworthiness 12, 5; LOO 1-NN, 10-NN; reference 1-NN, 10-NN:", values)
