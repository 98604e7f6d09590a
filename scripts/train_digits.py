"""Train the digits MLP (workloads/mlp_digits.yaml: 64-32-10, ReLU) on scikit-learn's bundled
8x8 digits and export its weights and both splits (the named dataset ``digits``).

Run from the repository root: ``python scripts/train_digits.py``. Deterministic: a stratified
80/20 split with a fixed ``random_state``, He-normal initialisation and minibatch order from one
seeded NumPy generator, minibatch Adam in float64. The layers have NO biases: the crossbar
model computes W x only, so the exported network is exactly what the crossbars hold.

Writes ``workloads/mlp_digits.weights.npz`` (``weights/fc1`` [32, 64], ``weights/fc2`` [10, 32],
float32), ``workloads/digits_test.npz`` (360 images) and ``workloads/digits_train.npz`` (1437
images), each ``x`` [N, 1, 8, 8] float32 in [0, 1] = pixel / 16 and ``y`` [N] int64; all
byte-reproducible (``xbarsim.io.npz_file.write_npz``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xbarsim.io.npz_file import write_npz

SEED = 0
"""Seeds the split, the initialisation and the minibatch order."""
HIDDEN = 32
"""fc1 outputs (workloads/mlp_digits.yaml)."""
EPOCHS = 150
BATCH = 32
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
"""L2 penalty: keeps the largest weight (which sets the integer scale) from running away."""


def forward(x: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden activations and logits of the bias-free MLP."""
    h = np.maximum(x @ w1.T, 0.0)
    return h, h @ w2.T


def gradients(x, y, w1, w2) -> tuple[np.ndarray, np.ndarray]:
    """Softmax cross-entropy gradients (mean over the batch) plus the L2 term."""
    h, logits = forward(x, w1, w2)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    p /= len(y)
    g2 = p.T @ h + WEIGHT_DECAY * w2
    dh = (p @ w2) * (h > 0)
    g1 = dh.T @ x + WEIGHT_DECAY * w1
    return g1, g2


def train(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Adam (Kingma & Ba 2015, default betas) on minibatches; returns [w1, w2]."""
    params = [rng.standard_normal((HIDDEN, 64)) * np.sqrt(2 / 64),
              rng.standard_normal((10, HIDDEN)) * np.sqrt(2 / HIDDEN)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            step += 1
            for i, g in enumerate(gradients(x[idx], y[idx], *params)):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                m_hat, v_hat = m[i] / (1 - 0.9**step), v[i] / (1 - 0.999**step)
                params[i] -= LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)
    return params


def accuracy(x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> float:
    """Top-1 accuracy of the float model."""
    return float(np.mean(np.argmax(forward(x, w1, w2)[1], axis=1) == y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workloads", help="directory for the three NPZ files")
    args = parser.parse_args()
    digits = load_digits()
    x = digits.data / 16.0  # pixel values 0..16 -> [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target)
    w1, w2 = train(x_train, y_train, np.random.default_rng(SEED))
    out = Path(args.out)
    write_npz(out / "mlp_digits.weights.npz",
              {"weights/fc1": w1.astype(np.float32), "weights/fc2": w2.astype(np.float32)})
    for split, xs, ys in (("test", x_test, y_test), ("train", x_train, y_train)):
        write_npz(out / f"digits_{split}.npz", {"x": xs.reshape(-1, 1, 8, 8).astype(np.float32),
                                                "y": ys.astype(np.int64)})
    sys.stdout.write(f"train accuracy {accuracy(x_train, y_train, w1, w2):.4f}, test accuracy "
                     f"{accuracy(x_test, y_test, w1, w2):.4f} ({len(y_test)} images); wrote "
                     f"{out}/mlp_digits.weights.npz, {out}/digits_test.npz and "
                     f"{out}/digits_train.npz\n")


if __name__ == "__main__":
    main()
