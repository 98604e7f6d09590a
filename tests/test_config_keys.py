"""No dead config keys: every key of the schema changes an output of a model that reads it.

Each key of ``isaac_like.yaml`` is perturbed (numbers x2, bit counts +1, flags flipped, enums to
another member; a value that makes the config invalid is tried the other way) on a small
workload, and the timing summaries (reprogram and basis dataflows) and the functional output
are compared with the unperturbed run. Keys whose effect is wired by an open issue are listed in
``NOT_YET_READ`` with that issue; the test also checks they really are still unread, so the
list has to shrink as the issues land.
"""

from __future__ import annotations

import dataclasses
import enum
from functools import cache
from typing import Any

import numpy as np
import pytest

from xbarsim.basis import fit_basis
from xbarsim.basis.timing_spec import basis_spec
from xbarsim.config import Arch, load_arch
from xbarsim.config.loader import with_crossbars
from xbarsim.errors import XbarsimError
from xbarsim.functional.dataset import load_dataset
from xbarsim.functional.network import run_functional
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions, simulate
from xbarsim.workload import load_workload, workload_from_dict
from xbarsim.workload.weights import load_weights, random_weights

ARCH = "arch_configs/isaac_like.yaml"
BASE = ("chip.crossbars=2",)
"""Two crossbars: the small network below needs three, so reprogram writes every run."""

STATIC_CROSSBARS = 16
"""The static run's chip: room for the network (3 crossbars) and copies of its layers."""

GLOBAL_BUFFER = ("chip.global_buffer={kib: 256, bytes_per_cycle: 64, energy_pj_per_byte: "
                 "1.5625, static_mw: 5.0, area_mm2: 0.5}")
"""A global buffer for the chip (isaac_like has none): the context of its keys."""

NOT_YET_READ: dict[str, str] = {}
"""Keys no model reads yet, each with the issue that wires it."""

FUNCTIONAL_ONLY = {"analog.", "crossbar.g_min_us", "crossbar.g_max_us",
                   "write_verify.tolerance", "write_verify.single_pass_window"}
"""Keys (or groups) only the functional model reads: the device and its errors."""

CONTEXT = {
    "write_verify.fixed_pulses": ("write_verify.pulse_model=fixed",),
    "write_verify.single_pass_window": ("write_verify.policy=single_pass",),
    "analog.drift_nu": ("analog.drift_t_s=100.0",),
    "analog.drift_t_s": ("analog.drift_nu=0.1",),
    "analog.drift_t0_s": ("analog.drift_nu=0.1",),
    "chip.global_buffer.kib": (GLOBAL_BUFFER, "chip.global_buffer.kib=2"),
    **{f"chip.global_buffer.{k}": (GLOBAL_BUFFER,)
       for k in ("bytes_per_cycle", "energy_pj_per_byte", "static_mw", "area_mm2")},
    "chip.crossbars_per_tile": ("chip.crossbars_per_tile=1",),
    "chip.noc.bytes_per_cycle": ("chip.crossbars_per_tile=1",),
    "chip.noc.multicast": ("chip.crossbars_per_tile=1",),
    "chip.dram.io_ports": ("chip.crossbars_per_tile=1",),
    "tile.buffer.activation_share": ("tile.buffer.kib=1",),
    "crossbar.adc.energy_pj": ("crossbar.adc.energy_pj=1.0",),
    "crossbar.read_v": ("crossbar.read_energy_pj=null",),
    "write_verify.pulse_energy_pj": ("write_verify.pulse_energy_pj=1.0",),
    "write_verify.verify_energy_pj": ("write_verify.verify_energy_pj=1.0",),
    "crossbar.cell_bits": ("write_verify.pulse_model=fixed",),
    "tile.combiner.area_mm2": ("tile.combiner.area_mm2=0.01",),
    "tile.combiner.lanes": ("tile.combiner.lanes=1", "crossbar.read_ns=1.0",
                            "crossbar.adc.count=128", "tile.shift_add.ops_per_cycle=256"),
    "write_verify.cells_per_row_parallel": ("write_verify.cells_per_row_parallel=8",),
}
"""Settings under which a key matters at all: a fixed pulse count under the measured model
does not; drift needs a drift exponent and time; a resource that is not the bottleneck (64
combiner lanes) changes nothing until it is scarce (the
combiner also hides behind the reads, conversions and shift-adds unless they are fast); energies
estimated from attributes matter only where the config leaves the given figure unset; the
global buffer spills only when it is small against the activations; a one-tile chip without
a global buffer moves nothing over a mesh link (the I/O port's hop is paced by DRAM, not by
the link width) and sends nothing to several tiles at once; the measured pulse table has
2-bit cells only; the I/O ports are the corners of the mesh, which only the static run's
16 one-crossbar tiles spread out."""

NETWORK = {"name": "keys", "input": [16, 6, 6], "layers": [
    {"name": "c1", "type": "conv", "in_channels": 16, "out_channels": 8, "kernel": 3,
     "padding": 1},
    {"name": "p1", "type": "pool", "kernel": 2},
    {"name": "f", "type": "flatten"},
    {"name": "fc", "type": "linear", "in_channels": 72, "out_channels": 10}]}
"""A conv with two row blocks of 128 (K = 144, so partial sums), a pool, a linear layer."""


def leaves(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf of a config dataclass."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += leaves(value, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", value))
    return out


KEYS = [k for k, _ in leaves(load_arch(ARCH, [GLOBAL_BUFFER])) if k != "chip.crossbars"]
KEYS.insert(KEYS.index("chip.global_buffer.kib"), "chip.global_buffer")
"""Every key (those of the optional global buffer too, and the group itself: null or one);
``chip.crossbars`` is the sweep axis, checked by every engine test."""


def candidates(key: str, value: Any) -> list[str]:
    """Perturbed values to try, in order, as ``--set`` text."""
    if isinstance(value, bool):
        return [str(not value).lower()]
    if isinstance(value, enum.Enum):
        members = list(type(value))
        at = members.index(value)
        return [m.value for m in members[at + 1:] + members[:at]]
    if isinstance(value, int):
        bits = [str(value + 1), str(value - 1)] if key.endswith("bits") else []
        return [*bits, str(value * 2), str(max(1, value // 2))]
    if isinstance(value, float):
        return [repr(value * 2), repr(value / 2)] if value else ["0.1"]
    if isinstance(value, str):
        return [f"{value}_x"]
    if key == "chip.global_buffer" and value is None:
        return [GLOBAL_BUFFER.partition("=")[2]]
    raise AssertionError(f"{key}: no perturbation for {value!r}")


@cache
def network() -> Any:
    return workload_from_dict(NETWORK)


@cache
def basis() -> Any:
    return fit_basis(network(), random_weights(network(), 0), length=9, basis_size=8)[0]


def timing(arch: Arch) -> dict[str, Any]:
    """Summaries of a reprogram run, a basis run and a static run on a chip with room for
    copies (wall time dropped)."""
    s = simulate(with_crossbars(arch, STATIC_CROSSBARS), network(),
                 RunOptions(Dataflow.STATIC, batch=2)).summary
    out = {f"static.{k}": v for k, v in s.items() if k not in ("wall_s", "crossbars")}
    for flow in (Dataflow.REPROGRAM, Dataflow.BASIS):
        spec = basis_spec(basis(), network(), arch.basis.combine) if flow is Dataflow.BASIS \
            else None
        s = simulate(arch, network(), RunOptions(flow, batch=2, basis=spec)).summary
        out.update({f"{flow.value}.{k}": v for k, v in s.items() if k != "wall_s"})
    return out


@cache
def digits() -> tuple[Any, Any, Any]:
    w = load_workload("workloads/mlp_digits.yaml")
    data = load_dataset("workloads/digits_test.npz", w)
    return w, load_weights("workloads/mlp_digits.weights.npz", w), data.x[:16]


def functional(arch: Arch) -> np.ndarray:
    """The analog outputs of the digits MLP on 16 images (exact integer path aside)."""
    w, weights, x = digits()
    return run_functional(arch, w, weights, x, seed=3).outputs["analog"]


def outputs(overrides: tuple[str, ...]) -> tuple[dict[str, Any], np.ndarray]:
    arch = load_arch(ARCH, [*BASE, *overrides])
    return timing(arch), functional(arch)


def changed(key: str) -> tuple[bool, bool]:
    """Whether some valid perturbation of ``key`` changes the timing summaries, and whether one
    changes the functional output (16-bit weights at 15 bits still take 8 two-bit slices, so a
    single step can be invisible where a larger one is not)."""
    context = CONTEXT.get(key, ())
    value = dict(leaves(load_arch(ARCH, [*BASE, *context])))[key]
    before_t, before_f = outputs(context)
    valid, timing_changed, functional_changed = False, False, False
    for text in candidates(key, value):
        try:
            after_t, after_f = outputs((*context, f"{key}={text}"))
        except XbarsimError:
            continue  # invalid with the other keys (e.g. more cell bits than weight bits)
        valid = True
        names = {"reprogram.arch", "basis.arch", "static.arch"} if key != "name" else set()
        timing_changed |= any(before_t[k] != after_t[k] for k in before_t if k not in names)
        functional_changed |= not np.array_equal(before_f, after_f)
    assert valid, f"{key}: every perturbation of {value!r} is invalid"
    return timing_changed, functional_changed


def functional_only(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in FUNCTIONAL_ONLY)


@pytest.mark.parametrize("key", KEYS)
def test_every_key_changes_an_output(key: str) -> None:
    timing_changed, functional_changed = changed(key)
    if key in NOT_YET_READ:
        assert not timing_changed, f"{key} is read now: remove it from NOT_YET_READ"
        return
    if functional_only(key):
        assert functional_changed, f"{key} changes no functional output"
    else:
        assert timing_changed, f"{key} changes no timing output"


def test_allow_list_names_real_keys() -> None:
    assert set(NOT_YET_READ) <= set(KEYS)
    assert all(functional_only(k) or not k.startswith("analog.") for k in KEYS)
