"""Train LeNet-5 or ResNet-20 on Fashion-MNIST and export float32 weights for ``xbarsim
functional`` (workloads/lenet5_fashion.yaml, workloads/resnet20_fashion.yaml).

Run from the repository root (needs torch, the ``train`` extra, and the Fashion-MNIST IDX files:
``apt-get install dataset-fashion-mnist``):

    python scripts/train_fashion.py --model lenet5
    python scripts/train_fashion.py --model resnet20

The torch network is built from the workload YAML (``xbarsim.functional.torch_graph``), so it is
exactly the graph the simulator runs. Inputs are pixel / 255 in [0, 1], unnormalised (the
crossbar DACs take unsigned inputs). Every conv and linear layer has a bias (added digitally).
ResNet-20 trains with a BatchNorm after every conv, folded into the conv's weights and bias at
export; LeNet-5 has none. SGD with Nesterov momentum, a one-cycle learning rate, weight decay and
random horizontal flips. Deterministic on CPU for a seed and thread count: torch's deterministic
algorithms, one seeded generator for the shuffling and the flips.

Writes ``workloads/<workload>.weights.npz`` (``weights/<layer>``, ``bias/<layer>``, float32,
byte-reproducible ``xbarsim.io.npz_file.write_npz``) and prints the test accuracy of the exported
network (the folded one for ResNet-20), which the simulator's float path reproduces.

Results (seed 0, 2 threads, torch 2.13.0 CPU on a 2-core machine; float test accuracy of the
exported network on all 10,000 test images):

- ``--model lenet5``: 20 epochs, 90 s, 0.9153.
- ``--model resnet20``: 6 epochs, about 75 s per epoch when the machine is otherwise idle
  (7.5 min), 0.9316 (the network with batch norm scores the same before folding).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn.functional import cross_entropy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xbarsim.functional.dataset import Dataset
from xbarsim.functional.datasets import load_named_dataset
from xbarsim.functional.torch_graph import TorchGraph, build_torch_model
from xbarsim.io.npz_file import write_npz
from xbarsim.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
"""The repository (workloads/ holds the YAMLs and the exported weights)."""


@dataclass(frozen=True)
class Recipe:
    """How one network is trained."""

    workload: str
    """Zoo name; the YAML is ``workloads/<workload>.yaml``."""
    batch_norm: bool
    """BatchNorm after every conv while training (folded at export)."""
    epochs: int
    batch: int
    lr: float
    """Peak learning rate of the one-cycle schedule."""
    weight_decay: float


RECIPES = {
    "lenet5": Recipe("lenet5_fashion", batch_norm=False, epochs=20, batch=64, lr=0.05,
                     weight_decay=5e-4),
    "resnet20": Recipe("resnet20_fashion", batch_norm=True, epochs=6, batch=128, lr=0.1,
                       weight_decay=5e-4),
}
"""Training recipe per ``--model``."""
EVAL_BATCH = 1000
"""Images per forward pass when evaluating."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=sorted(RECIPES))
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and data order")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--out", default=str(ROOT / "workloads"),
                        help="directory for <workload>.weights.npz")
    args = parser.parse_args()
    recipe = RECIPES[args.model]
    if args.epochs is not None:
        recipe = replace(recipe, epochs=args.epochs)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    train_set = load_named_dataset("fashion-mnist", "train")
    test_set = load_named_dataset("fashion-mnist", "test")
    workload = load_workload(ROOT / "workloads" / f"{recipe.workload}.yaml")
    model = build_torch_model(workload, batch_norm=recipe.batch_norm)
    start = time.perf_counter()
    train(model, recipe, train_set, test_set, torch.Generator().manual_seed(args.seed), start)
    arrays = model.export_arrays()
    path = Path(args.out) / f"{recipe.workload}.weights.npz"
    write_npz(path, arrays)
    exported = build_torch_model(workload, _prefixed(arrays, "weights/"),
                                 _prefixed(arrays, "bias/"))
    log(f"{args.model}: {recipe.epochs} epochs in {time.perf_counter() - start:.0f} s; exported "
        f"network test accuracy {accuracy(exported, test_set):.4f} ({len(test_set.x)} images); "
        f"wrote {path}")


def train(model: TorchGraph, recipe: Recipe, train_set: Dataset, test_set: Dataset,
          generator: torch.Generator, start: float) -> None:
    """SGD (Nesterov momentum 0.9) with a one-cycle learning rate; logs every epoch."""
    assert train_set.y is not None
    x = torch.tensor(train_set.x, dtype=torch.float32)
    y = torch.tensor(train_set.y)
    steps = -(-len(x) // recipe.batch)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9, nesterov=True,
                                weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr,
                                                   total_steps=recipe.epochs * steps)
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        loss_sum = 0.0
        for index in torch.randperm(len(x), generator=generator).split(recipe.batch):
            loss = cross_entropy(model(flip(x[index], generator)), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += float(loss.detach()) * len(index)
        log(f"epoch {epoch}: train loss {loss_sum / len(x):.4f}, test accuracy "
            f"{accuracy(model, test_set):.4f}, {time.perf_counter() - start:.0f} s")


def flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images [N, 1, H, W] with each mirrored left-right with probability 1/2."""
    mirror = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(mirror[:, None, None, None], x.flip(3), x)


@torch.no_grad()
def accuracy(model: TorchGraph, data: Dataset) -> float:
    """Top-1 accuracy of ``model`` in inference mode on ``data``."""
    assert data.y is not None
    model.eval()
    x = torch.tensor(data.x, dtype=torch.float32).split(EVAL_BATCH)
    y = torch.tensor(data.y).split(EVAL_BATCH)
    hits = sum(int((model(xs).argmax(1) == ys).sum()) for xs, ys in zip(x, y))
    return hits / len(data.y)


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix``, keyed by layer name."""
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def log(line: str) -> None:
    """One progress line, flushed (the script runs for minutes)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
