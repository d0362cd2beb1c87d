"""The non-parametric peers of `embed` on the same images: scikit-learn's TSNE (Barnes–Hut) and
openTSNE, measured as `embed` measures itself (trustworthiness k = 12, leave-one-out 1-NN and
10-NN accuracy within the test split, all in the plane), and timed.

How the test split is placed (neither peer maps new points as a network does):
  * sklearn: TSNE has no transform, so it embeds the first N training images and the test
    images together (N + M points, one run); the test rows of that embedding are measured.
    Its time on the N training images alone is measured in a separate run (--mode sklearn-fit).
  * openTSNE: fits the N training images (TSNEEmbedding), then places the test images with
    `transform` (its optimisation of the new points against the fixed training embedding).

Run each contender in its own process:
  python tsne_peers.py --mode sklearn-joint   # quality (train+test together) and its time
  python tsne_peers.py --mode sklearn-fit     # time of the N training images alone
  python tsne_peers.py --mode opentsne        # fit N, transform M: quality and both times
Prints one JSON line per run.
"""
import argparse, gzip, json, os, time
import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder, n, m):
    xt = idx(os.path.join(folder, "train-images-idx3-ubyte.gz"))[:n].reshape(n, -1).astype(np.float32) / 255
    yt = idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"))[:n].astype(np.int64)
    xs = idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"))[:m].reshape(m, -1).astype(np.float32) / 255
    ys = idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"))[:m].astype(np.int64)
    return xt, yt, xs, ys


def quality(x, y, labels):
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors
    result = {"trustworthiness": float(trustworthiness(x, y, n_neighbors=12))}
    neighbours = NearestNeighbors(n_neighbors=10).fit(y).kneighbors(return_distance=False)  # excludes each point itself
    for k in (1, 10):
        votes = np.array([np.bincount(labels[row[:k]], minlength=10).argmax() for row in neighbours])
        result[f"knn{k}"] = float((votes == labels).mean())
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["sklearn-joint", "sklearn-fit", "opentsne"], required=True)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--train", type=int, default=10000)
    p.add_argument("--test", type=int, default=10000)
    p.add_argument("--perplexity", type=float, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    xt, yt, xs, ys = load(a.data, a.train, a.test)
    out = {"mode": a.mode, "train": a.train, "test": a.test, "perplexity": a.perplexity, "threads": a.threads}
    if a.mode.startswith("sklearn"):
        import sklearn
        from sklearn.manifold import TSNE
        out["version"] = sklearn.__version__
        x = np.concatenate([xt, xs]) if a.mode == "sklearn-joint" else xt
        start = time.perf_counter()
        e = TSNE(n_components=2, perplexity=a.perplexity, method="barnes_hut", init="pca", random_state=a.seed, n_jobs=a.threads).fit_transform(x)
        out["seconds"] = time.perf_counter() - start
        if a.mode == "sklearn-joint":
            out.update(quality(xs, e[a.train:], ys))
    else:
        import openTSNE
        out["version"] = openTSNE.__version__
        start = time.perf_counter()
        embedding = openTSNE.TSNE(perplexity=a.perplexity, n_jobs=a.threads, random_state=a.seed).fit(xt)
        out["seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        placed = embedding.transform(xs)
        out["transform_seconds"] = time.perf_counter() - start
        out.update(quality(xs, np.asarray(placed), ys))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
