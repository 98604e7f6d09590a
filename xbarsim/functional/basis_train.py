"""BasisN-style training of one global basis and quantized per-layer coefficients (torch).

Method (``train_basis``), after BasisN (arXiv 2407.03738):

1. Start from the closed-form fit (``fit.fit_basis``): the basis, and per layer integer
   coefficients ``q[s, o, b]`` with a per-output step ``u[o]``.
2. Parameters: the float basis ``V [L, B]`` and per layer ``Z [S, O, B]`` in units of the fitted
   step (``Z = q`` at the start). Every forward pass quantizes both with straight-through
   rounding: ``V`` to ``basis_bits`` (one max-abs step for the whole matrix, as the cells share
   one conductance range), ``Z`` per output to ``coeff_bits`` symmetric levels (max-abs over the
   output's segments and basis vectors); with ``nnz = k`` only the k largest |Z| of each segment
   pass. The layer's weights are ``sum_b Zq[s, o, b] * u[o] * Vq[:, b]`` cut back from segments.
3. Loss: ``task`` times the cross-entropy of the workload's network (``functional.torch_graph``;
   biases, when given, stay as trained) on the training data, plus ``reconstruction`` times the
   mean relative squared distance of each layer's weights from the float network's, plus
   ``contention`` times the overlap penalty.
4. Alternation: even steps update the basis (coefficients fixed), odd steps the coefficients
   (basis fixed), each with its own Adam and a cosine-decaying learning rate.

Contention penalty: in analog combination two outputs of a layer group share a conversion step
only if their coefficient bit-plane masks are disjoint (``analog_groups``). The penalty is the
differentiable proxy ``sum_s sum_b sum_{o != o'} a[s,o,b] a[s,o',b]`` with ``a = |Zq| / top``,
normalised by segments and output pairs: it is zero exactly when no two outputs of a group use
the same basis vector in the same segment (then every mask pair is disjoint), and it pushes
shared, small coefficients to zero.

Deterministic for a seed on CPU: torch's deterministic algorithms, a seeded generator for the
minibatch order, no other randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.functional import cross_entropy

from xbarsim.basis.analog_groups import MAX_BASIS_VECTORS, analog_steps
from xbarsim.basis.basis_set import BasisSet
from xbarsim.basis.export import quantized_basis_set
from xbarsim.basis.fit import fit_basis
from xbarsim.functional.dataset import Dataset
from xbarsim.functional.torch_graph import build_torch_model
from xbarsim.workload import Layer, Workload
from xbarsim.workload.weights import weight_shape


@dataclass(frozen=True)
class TrainOptions:
    """What ``basis train`` takes besides the network and the data."""

    length: int = 9
    basis_size: int = 8
    coeff_bits: int = 4
    basis_bits: int = 8
    nnz: int | None = None
    contention: float = 0.0
    """Weight of the overlap penalty (0: off)."""
    task: float = 1.0
    """Weight of the task loss (cross-entropy)."""
    reconstruction: float = 0.0
    """Weight of the mean over layers of ||W - W_hat||^2 / ||W||^2 (keeps the trained weights
    near the float network's; 0: off)."""
    epochs: int = 5
    batch: int = 128
    lr_basis: float = 1e-3
    """Adam step for the basis (its entries are about 1 / sqrt(L))."""
    lr_coeff: float = 0.02
    """Adam step for the coefficients, in quantization levels."""
    seed: int = 0


@dataclass(frozen=True)
class EpochReport:
    """One line of the training log."""

    epoch: int
    loss: float
    """Mean training loss (cross-entropy + contention) over the epoch's minibatches."""
    train_accuracy: float
    """Accuracy on the epoch's minibatches, as trained (quantized weights)."""
    eval_accuracy: float | None
    """Accuracy on the evaluation data after the epoch, if given."""
    relative_error: float
    """Mean over layers of ||W - W_hat||_F / ||W||_F against the starting weights."""


@dataclass(frozen=True)
class LayerReport:
    """Per MVM layer: the fitted start against the trained result."""

    layer: str
    relative_error: tuple[float, float]
    nnz: tuple[int, int]
    analog_steps: tuple[int | None, int | None]
    """Analog-combination conversion steps per input vector (``analog_groups.analog_steps``;
    None over ``MAX_BASIS_VECTORS`` basis vectors, where analog combination does not apply)."""


class _Coefficients(torch.nn.Module):
    """One layer's coefficients ``Z [S, O, B]`` in units of the fitted per-output step."""

    step: torch.Tensor
    """The fitted per-output step ``u [O]`` (real weight units per level)."""

    def __init__(self, levels: np.ndarray, step: np.ndarray) -> None:
        super().__init__()
        self.z = torch.nn.Parameter(torch.tensor(levels, dtype=torch.float32))
        self.register_buffer("step", torch.tensor(step, dtype=torch.float32))

    def quantized(self, bits: int, nnz: int | None) -> torch.Tensor:
        """Straight-through quantized levels ``Zq [S, O, B]`` (sparse when ``nnz`` is set)."""
        z: torch.Tensor = self.z
        if nnz is not None and nnz < z.shape[2]:
            keep = torch.topk(z.detach().abs(), nnz, dim=2).indices
            z = z * torch.zeros_like(z).scatter_(2, keep, 1.0)
        top = (1 << (bits - 1)) - 1
        peak = z.detach().abs().amax(dim=(0, 2), keepdim=True)
        grid = torch.where(peak > 0, peak / top, torch.ones_like(peak))
        return _round_ste(z / grid) * grid


def train_basis(workload: Workload, weights: Mapping[str, np.ndarray],
                biases: Mapping[str, np.ndarray], data: Dataset, evaluate: Dataset | None,
                options: TrainOptions,
                on_epoch: Callable[[EpochReport], None] = lambda report: None,
                progress: Callable[[int], Callable[[], None]] | None = None,
                ) -> tuple[BasisSet, list[LayerReport]]:
    """Train a basis set for ``workload`` on ``data`` (labels required); see the module doc.

    ``on_epoch`` receives each epoch's report; ``progress(steps)`` may return a callback called
    after every minibatch (a progress bar). Returns the quantized set and per-layer reports.
    """
    fitted, fit_errors = fit_basis(workload, weights, length=options.length,
                                   basis_size=options.basis_size, coeff_bits=options.coeff_bits,
                                   basis_bits=options.basis_bits, nnz=options.nnz)
    with _deterministic(options.seed):
        trained = _train(workload, weights, biases, fitted, data, evaluate, options, on_epoch,
                         progress)
    reports = [_layer_report(workload, layer, fitted, trained, fit_errors[layer.name],
                             weights[layer.name]) for layer in workload.mvm_layers]
    return trained, reports


def _train(workload: Workload, weights: Mapping[str, np.ndarray],
           biases: Mapping[str, np.ndarray], fitted: BasisSet, data: Dataset,
           evaluate: Dataset | None, options: TrainOptions,
           on_epoch: Callable[[EpochReport], None],
           progress: Callable[[int], Callable[[], None]] | None) -> BasisSet:
    """The alternating optimisation; returns the quantized result."""
    model = build_torch_model(workload, weights, biases)
    model.requires_grad_(False)
    basis = torch.nn.Parameter(torch.tensor(fitted.basis, dtype=torch.float32))
    coeffs = {name: _Coefficients(fitted.coeffs[name], fitted.channel_scales(name))
              for name in fitted.layers}
    reference = {name: torch.tensor(np.asarray(w), dtype=torch.float32)
                 for name, w in weights.items()}
    x = torch.tensor(data.x, dtype=torch.float32)
    assert data.y is not None, "training needs labels"
    y = torch.tensor(data.y, dtype=torch.int64)
    steps_per_epoch = -(-len(x) // options.batch)
    total = options.epochs * steps_per_epoch
    opt_basis = torch.optim.Adam([basis], lr=options.lr_basis)
    opt_coeff = torch.optim.Adam([c.z for c in coeffs.values()], lr=options.lr_coeff)
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, (total + 1) // 2))
                 for opt in (opt_basis, opt_coeff)]
    order = torch.Generator().manual_seed(options.seed)
    layers = {layer.name: layer for layer in workload.mvm_layers}
    step = 0
    for epoch in range(1, options.epochs + 1):
        tick = progress(steps_per_epoch) if progress is not None else None
        loss_sum = correct = 0.0
        for index in torch.randperm(len(x), generator=order).split(options.batch):
            w_hat, levels = _weights(basis, coeffs, layers, options)
            logits = model(x[index], weights=w_hat)
            loss = options.task * cross_entropy(logits, y[index])
            if options.reconstruction > 0:
                loss = loss + options.reconstruction * _distance(w_hat, reference)
            if options.contention > 0:
                loss = loss + options.contention * _contention(levels, layers, options.coeff_bits)
            opt_basis.zero_grad()
            opt_coeff.zero_grad()
            loss.backward()
            which = step % 2
            (opt_basis, opt_coeff)[which].step()
            schedules[which].step()
            step += 1
            loss_sum += float(loss.detach()) * len(index)
            correct += float((logits.argmax(1) == y[index]).sum())
            if tick is not None:
                tick()
        with torch.no_grad():
            w_hat, _ = _weights(basis, coeffs, layers, options)
            rel = float(np.mean([float(torch.linalg.norm(w_hat[n] - reference[n])
                                       / torch.linalg.norm(reference[n]).clamp_min(1e-30))
                                 for n in w_hat]))
            accuracy = None if evaluate is None else _accuracy(model, w_hat, evaluate,
                                                               options.batch)
        on_epoch(EpochReport(epoch, loss_sum / len(x), correct / len(x), accuracy, rel))
    with torch.no_grad():
        basis_q = _quantize_basis(basis, options.basis_bits)
        real = {name: (c.quantized(options.coeff_bits, options.nnz)
                       * c.step[None, :, None]).double().numpy()
                for name, c in coeffs.items()}
    return quantized_basis_set(workload, basis_q.double().numpy(), real, options.basis_bits,
                               options.coeff_bits)


def _weights(basis: torch.Tensor, coeffs: Mapping[str, _Coefficients], layers: Mapping[str, Layer],
             options: TrainOptions) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Per layer the reconstructed weights (layer shape) and the quantized levels ``Zq``."""
    basis_q = _quantize_basis(basis, options.basis_bits)
    weights, levels = {}, {}
    for name, module in coeffs.items():
        zq = module.quantized(options.coeff_bits, options.nnz)
        levels[name] = zq
        segments = torch.einsum("sob,lb->osl", zq * module.step[None, :, None], basis_q)
        shape = weight_shape(layers[name])
        fan_in = int(np.prod(shape[1:]))
        weights[name] = segments.reshape(shape[0], -1)[:, :fan_in].reshape(shape)
    return weights, levels


def _distance(weights: Mapping[str, torch.Tensor],
              reference: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean over layers of ||W_hat - W||^2 / ||W||^2."""
    return torch.stack([((weights[n] - w) ** 2).sum() / (w**2).sum().clamp_min(1e-30)
                        for n, w in reference.items()]).mean()


def _contention(levels: Mapping[str, torch.Tensor], layers: Mapping[str, Layer],
                coeff_bits: int) -> torch.Tensor:
    """Mean over layers of the normalised pairwise basis-vector sharing (module doc)."""
    top = (1 << (coeff_bits - 1)) - 1
    terms = []
    for name, zq in levels.items():
        layer = layers[name]
        a = zq.abs() / top  # [S, O, B]
        per = layer.out_per_group
        grouped = a.reshape(a.shape[0], layer.groups, per, a.shape[2])
        shared = grouped.sum(dim=2) ** 2 - (grouped**2).sum(dim=2)  # sum over o != o'
        pairs = max(1, per * (per - 1))
        terms.append(shared.sum() / (a.shape[0] * layer.groups * pairs))
    return torch.stack(terms).mean()


def _quantize_basis(basis: torch.Tensor, bits: int) -> torch.Tensor:
    """Straight-through rounding to ``bits``-bit symmetric levels, one max-abs step."""
    peak = basis.detach().abs().max()
    step = peak / ((1 << (bits - 1)) - 1) if peak > 0 else torch.ones_like(peak)
    return _round_ste(basis / step) * step


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass (straight-through)."""
    return x + (torch.round(x) - x).detach()


def _accuracy(model: torch.nn.Module, weights: Mapping[str, torch.Tensor], data: Dataset,
              batch: int) -> float | None:
    """Top-1 accuracy of the network with ``weights`` on ``data`` (None without labels)."""
    if data.y is None:
        return None
    x = torch.tensor(data.x, dtype=torch.float32)
    y = torch.tensor(data.y, dtype=torch.int64)
    hits = sum(int((model(x[i], weights=weights).argmax(1) == y[i]).sum())
               for i in torch.arange(len(x)).split(4 * batch))
    return hits / len(y)


def _layer_report(workload: Workload, layer: Layer, fitted: BasisSet, trained: BasisSet,
                  fit_error: float, weights: np.ndarray) -> LayerReport:
    """Error, nonzeros and analog steps of one layer, fitted vs trained."""
    name = layer.name
    w = np.asarray(weights, dtype=np.float64)
    norm = float(np.linalg.norm(w))
    error = float(np.linalg.norm(trained.reconstruct(name, workload) - w))
    steps = [analog_steps(s.coeffs[name], s.coeff_bits, layer.groups)[0]
             if s.basis_size <= MAX_BASIS_VECTORS else None for s in (fitted, trained)]
    return LayerReport(name, (fit_error, error / norm if norm > 0 else 0.0),
                       (fitted.nnz_total(name), trained.nnz_total(name)), (steps[0], steps[1]))


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch and switch on its deterministic algorithms for the block, then restore."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
