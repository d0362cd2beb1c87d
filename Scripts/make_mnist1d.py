#!/usr/bin/env python3
"""Writes MNIST-1D (Greydanus 2020) as a folder `train --data` reads.

The data are generated offline by the PyPI package mnist1d, pinned to the version checked here
(make_dataset(get_dataset_args()): 5,000 sequences of length 40 with the package's defaults,
seed 42, split 4,000 train / 1,000 test, 10 classes). When the running Python cannot import
mnist1d, the script creates a virtual environment (--venv, default .venv-data at the repository
root), installs mnist1d there with pip and runs itself again with that Python.

The folder (default data/mnist1d at the repository root, ignored by git) holds:

  x_train.npy  float32 [4000, 40]   the sequences, as the package returns them (centred, unit
  x_test.npy   float32 [1000, 40]   standard deviation over the whole set), rounded to float32
  y_train.npy  int64   [4000]       labels 0 ... 9
  y_test.npy   int64   [1000]
  mnist1d.json                      the package version, its arguments, numpy's and scipy's
                                    versions, each file's shape, dtype and SHA-256

Isometry reads each sequence as [40] (an MLP, --widths) or as one channel [1, 40]
(--architecture conv...). The four arrays are compared with the published mnist1d_data.pkl of
the mnist1d repository (the SHA-256s of its arrays, kept in this script; equal bit for bit with
mnist1d 0.0.2.post1, numpy 2.4 and scipy 1.17): a mismatch (a numpy or scipy that draws or
filters differently) stops the script unless --allow-different.

A folder that already holds the standard data is left as it is (no Python package needed);
--force writes it again. --fixture N,M writes the first N training and M test sequences and a
reference.json of their values in decimal, for tests (Tests/Fixtures/MNIST1D).

  Scripts/make_mnist1d.py                       # data/mnist1d
  Scripts/make_mnist1d.py --output /tmp/mnist1d
  swift run train --data data/mnist1d --architecture conv25k5s2p1,relu,conv25k3s2p1,relu,conv25k3s2p1,relu,flatten,dense10 ...
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

PACKAGE = "mnist1d==0.0.2.post1"
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# SHA-256 of the published mnist1d_data.pkl's arrays as written here (x as little-endian float32,
# y as little-endian int64): what mnist1d 0.0.2.post1 generates with numpy 2.4 and scipy 1.17.
PUBLISHED = {
    "x_train.npy": "d53506bddd12d3b72c7153b1ae7f34807724b1dd078a7273809bf9d0792319f6",
    "x_test.npy": "30addc43827c82aafa5db8bc97cea63349ca687e87db2f201cc4f5415d9a4ebd",
    "y_train.npy": "d97dc7aecec8ad6b5d8f143ba3e9c4bd7e25c420d7dfc2eb990591cfc0ed3e15",
    "y_test.npy": "8de99be3ff9dab15ae0dc072c3d6ced7cf6b33d365888ce4a386fc944489452c",
}
SHAPES = {"x_train.npy": [4000, 40], "x_test.npy": [1000, 40], "y_train.npy": [4000], "y_test.npy": [1000]}


def parse_arguments():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default=os.path.join(REPOSITORY, "data", "mnist1d"),
                   help="folder to write (default: data/mnist1d at the repository root)")
    p.add_argument("--venv", default=os.path.join(REPOSITORY, ".venv-data"),
                   help="virtual environment to create and install mnist1d into when this Python lacks it "
                        "(default: .venv-data at the repository root)")
    p.add_argument("--force", action="store_true", help="write the folder even if it already holds the standard data")
    p.add_argument("--allow-different", action="store_true",
                   help="write data that differ from the published MNIST-1D (recorded in mnist1d.json)")
    p.add_argument("--fixture", metavar="N,M",
                   help="write only the first N training and M test sequences, with reference.json (for tests)")
    return p.parse_args()


def fail(message):
    print(f"make_mnist1d: {message}", file=sys.stderr)
    sys.exit(2)


def parse_fixture(text):
    """--fixture N,M as (N, M), or None without it."""
    if not text:
        return None
    try:
        n_train, n_test = (int(v) for v in text.split(","))
    except ValueError:
        fail(f"--fixture takes N,M (training and test counts), got {text!r}")
    if not (1 <= n_train <= 4000 and 1 <= n_test <= 1000):
        fail(f"--fixture {text}: N must be in 1...4000 and M in 1...1000")
    return n_train, n_test


def python_with_mnist1d(venv):
    """This Python if it imports mnist1d; else the venv's, created and filled first."""
    try:
        import mnist1d  # noqa: F401
        return sys.executable
    except ImportError:
        pass
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {venv}", file=sys.stderr)
        if subprocess.run([sys.executable, "-m", "venv", venv]).returncode != 0:
            fail(f"{sys.executable} -m venv {venv} failed (on Debian: apt-get install python3-venv)")
    probe = subprocess.run([python, "-c", "import mnist1d"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing {PACKAGE} into {venv}", file=sys.stderr)
        install = subprocess.run([python, "-m", "pip", "install", "--quiet", PACKAGE])
        if install.returncode != 0:
            fail(f"pip could not install {PACKAGE} into {venv} (PyPI unreachable?)")
    return python


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def npy_payload_sha256(path):
    """The SHA-256 of an .npy file's array bytes (the header set aside), without numpy."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        return None
    major = data[6]
    header_length = int.from_bytes(data[8:10], "little") if major == 1 else int.from_bytes(data[8:12], "little")
    start = (10 if major == 1 else 12) + header_length
    return hashlib.sha256(data[start:]).hexdigest()


def holds_standard_data(folder):
    try:
        return all(npy_payload_sha256(os.path.join(folder, name)) == digest for name, digest in PUBLISHED.items())
    except OSError:
        return False


def write_atomically(path, write):
    """Temporary file in the same folder, fsync, rename, fsync of the folder."""
    folder = os.path.dirname(path)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".")
    # mkstemp makes the file private; data files are as readable as any file the user writes.
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(descriptor, 0o666 & ~umask)
    try:
        with os.fdopen(descriptor, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def generate(arguments):
    import numpy as np
    import scipy
    import mnist1d
    from importlib.metadata import version
    from mnist1d.data import make_dataset, get_dataset_args

    dataset_arguments = get_dataset_args()
    data = make_dataset(dataset_arguments)
    arrays = {
        "x_train.npy": np.ascontiguousarray(data["x"], dtype="<f4"),
        "x_test.npy": np.ascontiguousarray(data["x_test"], dtype="<f4"),
        "y_train.npy": np.ascontiguousarray(data["y"], dtype="<i8"),
        "y_test.npy": np.ascontiguousarray(data["y_test"], dtype="<i8"),
    }
    for name, array in arrays.items():
        if list(array.shape) != SHAPES[name]:
            fail(f"mnist1d returned {name[:-4]} of shape {list(array.shape)}, expected {SHAPES[name]}")
    if not all(np.isfinite(arrays[n]).all() for n in ("x_train.npy", "x_test.npy")):
        fail("mnist1d returned non-finite values")
    published = all(hashlib.sha256(arrays[n].tobytes()).hexdigest() == d for n, d in PUBLISHED.items())
    if not published and not arguments.allow_different:
        fail(f"the generated data differ from the published MNIST-1D (numpy {np.__version__}, scipy {scipy.__version__}); "
             "pass --allow-different to write them anyway")

    fixture = parse_fixture(arguments.fixture)
    if fixture is not None:
        arrays = {name: array[: fixture[0] if "train" in name else fixture[1]] for name, array in arrays.items()}

    os.makedirs(arguments.output, exist_ok=True)
    for name, array in arrays.items():
        write_atomically(os.path.join(arguments.output, name), lambda f, a=array: np.save(f, a, allow_pickle=False))

    settings = {k: v for k, v in vars(dataset_arguments).items() if k != "url"}
    record = {
        "dataset": "MNIST-1D",
        "generator": f"mnist1d {version('mnist1d')}: make_dataset(get_dataset_args())",
        "arguments": settings,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "published": published,
        "subset": None if fixture is None else {"train": fixture[0], "test": fixture[1]},
        "files": {name: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": sha256(os.path.join(arguments.output, name))}
                  for name, a in arrays.items()},
    }
    write_atomically(os.path.join(arguments.output, "mnist1d.json"),
                     lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))
    if fixture is not None:
        # Decimal text, independent of the .npy reader: repr of a float32 is its shortest round trip.
        reference = {
            "x_train_first": [repr(float(v)) for v in arrays["x_train.npy"][0]],
            "x_test_last": [repr(float(v)) for v in arrays["x_test.npy"][-1]],
            "y_train": [int(v) for v in arrays["y_train.npy"]],
            "y_test": [int(v) for v in arrays["y_test.npy"]],
            "x_train_sum": float(arrays["x_train.npy"].astype(np.float64).sum()),
            "x_test_sum": float(arrays["x_test.npy"].astype(np.float64).sum()),
        }
        write_atomically(os.path.join(arguments.output, "reference.json"),
                         lambda f: f.write((json.dumps(reference, indent=1) + "\n").encode()))
    counts = f"{len(arrays['y_train.npy'])} training and {len(arrays['y_test.npy'])} test sequences of length 40"
    print(f"wrote {arguments.output}: {counts}" + ("" if published else " (differing from the published MNIST-1D)"))


def main():
    arguments = parse_arguments()
    arguments.output = os.path.abspath(arguments.output)
    parse_fixture(arguments.fixture)  # refused before any install or generation
    if not arguments.force and not arguments.fixture and holds_standard_data(arguments.output):
        print(f"{arguments.output} already holds the standard MNIST-1D (--force writes it again)")
        return
    python = python_with_mnist1d(os.path.abspath(arguments.venv))
    if python != sys.executable:
        # The same arguments, under the Python that has mnist1d.
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])
    generate(arguments)


if __name__ == "__main__":
    main()
