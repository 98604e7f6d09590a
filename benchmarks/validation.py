"""Regenerate docs/validation.md: what xbarsim's numbers are checked against, with the checks run.

Run from anywhere: ``python benchmarks/validation.py`` (about a minute on 2 cores). Every table
in the document comes from checks this script runs; the only values typed in are published
reference numbers and hand derivations, each with its source. The simulator is driven through
its command line only (``python -m xbarsim run ... --out DIR``, reading the CSVs it writes) plus
the stable imports ``xbarsim.workload`` and ``xbarsim.functional.kernel``. The document holds no
dates, timings, versions or paths, so running the script twice gives the same file. Exit status
1 when a check fails (the document is written either way and marks it **FAIL**).
"""

from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from xbarsim.config import AdcRange, load_arch
from xbarsim.functional.kernel import AnalogCrossbar, crossbar_mvm, exact_mvm
from xbarsim.mapping.encoding import Encoding as KernelEncoding
from xbarsim.timing.estimators import adc_area_mm2, adc_conversion_ns, adc_energy_pj
from xbarsim.workload import ZOO, Workload, load_workload

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.golden_runs import RUNS, VOLATILE_COLUMNS, normalized  # noqa: E402

DOC = ROOT / "docs" / "validation.md"
TINY = "arch_configs/tiny.yaml"
ISAAC = "arch_configs/isaac_like.yaml"
PUMA = "arch_configs/puma_like.yaml"
IDEAL = "arch_configs/ideal.yaml"
JOBS = 2
"""Simulator processes run at once (the target machine has 2 cores)."""
PJ = 1e-12


# ---------------------------------------------------------------------------- plumbing


@dataclass
class Checks:
    """Tally of the checks run, with the names of those that failed."""

    total: int = 0
    failed: list[str] = field(default_factory=list)

    def mark(self, ok: bool, name: str) -> str:
        """Record one check; return its table cell."""
        self.total += 1
        if not ok:
            self.failed.append(name)
        return "pass" if ok else "**FAIL**"


@dataclass(frozen=True)
class SimRun:
    """The CSVs one ``xbarsim run`` writes."""

    summary: dict[str, Any]
    layers: pd.DataFrame
    utilization: pd.DataFrame
    area: pd.DataFrame


def cli(args: Sequence[str]) -> None:
    """Run ``python -m xbarsim ARGS`` in the repository root; raise with its stderr on failure."""
    proc = subprocess.run([sys.executable, "-m", "xbarsim", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"xbarsim {' '.join(args)} exited with {proc.returncode}:\n"
                           f"{proc.stderr.strip()}")


def simulate(args: Sequence[str], out: Path) -> SimRun:
    """``xbarsim run ARGS --out OUT`` and read back what it wrote."""
    cli(["run", *args, "--out", str(out)])
    return SimRun(summary=pd.read_csv(out / "summary.csv").iloc[0].to_dict(),
                  layers=pd.read_csv(out / "layers.csv"),
                  utilization=pd.read_csv(out / "utilization.csv"),
                  area=pd.read_csv(out / "area.csv"))


def parallel(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
    """Results of ``jobs`` (each starting a subprocess), ``JOBS`` at a time, in order."""
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        return list(pool.map(lambda job: job(), jobs))


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float) -> str:
    """An integer with thousands separators, anything else to 6 significant digits."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.6g}"


def arch_yaml(path: str) -> dict[str, Any]:
    """An architecture file as plain YAML data."""
    return yaml.safe_load((ROOT / path).read_text())


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for non-negative integers."""
    return -(-a // b)


# ---------------------------------------------------------------------------- 1. by hand


@dataclass(frozen=True)
class HandValue:
    """One output worked out by hand: where it is, how it is derived, its value."""

    key: str
    """summary.csv column, or ``busy:<resource>`` for utilization.csv busy cycles."""
    derivation: str
    value: float
    """Integer count, or picojoules for energy columns."""


STATIC_CASE = [
    HandValue("cycles", "52 + 1 + 44 + 1 + 51", 149),
    HandValue("compute_cycles", "44 (the block's reads)", 44),
    HandValue("program_cycles", "static: nothing is written during inference", 0),
    HandValue("stall_cycles", "53 input, 1 + 51 output: nothing computes", 105),
    HandValue("xbar_reads", "t = 8 / 2 = 4 reads of the one block", 4),
    HandValue("dac_conversions", "4 reads x 16 rows", 64),
    HandValue("adc_conversions", "4 reads x 16 columns (O s d = 2 x 4 x 2)", 64),
    HandValue("noc_bytes", "16 B of inputs in + 2 B of outputs out", 18),
    HandValue("dram_bytes", "16 B input image + 2 B output", 18),
    HandValue("buffer_bytes", "tile reads 16 + 2, tile writes 16 + 2 (no global buffer)", 36),
    HandValue("cells_written", "static: weights written once, as setup", 0),
    HandValue("write_pulses", "static: weights written once, as setup", 0),
    HandValue("setup_cycles", "fetch 64 B 50 + 8, NoC 8 + 1, tile 8 = 75; 16 rows x 100", 1675),
    HandValue("energy_xbar_j", "4 reads x 2 pJ", 8),
    HandValue("energy_dac_j", "64 x 0.1 pJ", 6.4),
    HandValue("energy_adc_j", "64 x (1 mW x 1 ns)", 64),
    HandValue("energy_buffer_j", "(18 + 18) x 0.5 pJ", 18),
    HandValue("energy_noc_j", "18 B x 0.5 pJ", 9),
    HandValue("energy_dram_j", "18 B x 8 bit x 10 pJ", 1440),
    HandValue("energy_digital_j", "64 shift-adds x 0.02 pJ", 1.28),
    HandValue("energy_write_j", "nothing written", 0),
    HandValue("energy_static_j", "23.32 mW leakage x 149 ns", 23.32e-3 * 149e-9 / PJ),
    HandValue("busy:crossbar", "one crossbar busy for the block's pipelined reads", 44),
    HandValue("busy:dram", "16 + 2 B at 8 B/cycle: 2 + 1", 3),
]
"""tests/test_engine.py: test_static_single_block_timeline_by_hand, test_utilization_by_hand."""

REPROGRAM_CASE = [
    HandValue("cycles", "1677 + 50 + 254 + 99", 2080),
    HandValue("program_cycles", "round 0: 1677, round 1: 54 + 200 = 254", 1677 + 254),
    HandValue("compute_cycles", "fc1: 6 + 44 = 50; fc2: 4 + 44 + 51 = 99", 50 + 99),
    HandValue("stall_cycles", "every cycle programs or computes", 0),
    HandValue("setup_cycles", "reprogram: no setup", 0),
    HandValue("cells_written", "16 x 16 (fc1) + 2 x 16 (fc2)", 16 * 16 + 2 * 16),
    HandValue("write_pulses", "3 fixed pulses per cell", 3 * 288),
    HandValue("verify_reads", "one verify before and one after each pulse: 4 per cell", 4 * 288),
    HandValue("xbar_reads", "two one-block layers x 4 reads [this document]", 8),
    HandValue("dac_conversions", "4 reads x (16 + 2 rows) [this document]", 72),
    HandValue("adc_conversions", "4 reads x (16 + 16 columns) [this document]", 128),
    HandValue("energy_write_j", "864 pulses x 0.5 pJ + 1152 verifies x 0.25 pJ [this document]",
              720),
]
"""tests/test_engine.py: test_reprogram_two_rounds_by_hand (rows marked [this document]:
derived here from tiny.yaml and the counting rules, not asserted by that test)."""


def chain_yaml(sizes: Sequence[int]) -> str:
    """YAML of linear layers sizes[0] -> sizes[1] -> ..., as ``chain()`` in tests/test_engine.py."""
    layers = [{"name": f"fc{i + 1}", "type": "linear", "in_channels": a, "out_channels": b}
              for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    return yaml.safe_dump({"name": "chain", "input": [sizes[0], 1, 1], "layers": layers},
                          sort_keys=False)


def observed(run: SimRun, key: str) -> float:
    """A summary column, or busy cycles of a resource for ``busy:<resource>``."""
    if key.startswith("busy:"):
        rows = run.utilization.set_index("resource")
        return float(rows.loc[key.split(":", 1)[1], "busy_cycles"])
    return float(run.summary[key])


def hand_table(run: SimRun, case: Sequence[HandValue], name: str, checks: Checks) -> str:
    """Hand value against simulated value for every entry of ``case``."""
    rows = []
    for hv in case:
        got = observed(run, hv.key)
        energy = hv.key.startswith("energy_")
        shown = got / PJ if energy else got
        ok = math.isclose(shown, hv.value, rel_tol=1e-9, abs_tol=1e-9)
        unit = " pJ" if energy else ""
        rows.append([f"`{hv.key}`", hv.derivation, num(hv.value) + unit, num(shown) + unit,
                     checks.mark(ok, f"{name}: {hv.key}")])
    return table(["output", "hand derivation", "hand value", "simulated", "check"], rows)


def section_by_hand(tmp: Path, checks: Checks) -> str:
    """Section 1: the hand-derived timelines of tests/test_engine.py, rerun through the CLI."""
    (tmp / "chain_16_2.yaml").write_text(chain_yaml([16, 2]))
    (tmp / "chain_16_2_2.yaml").write_text(chain_yaml([16, 2, 2]))
    static, reprogram = parallel([
        lambda: simulate(["--arch", TINY, "--workload", str(tmp / "chain_16_2.yaml"),
                          "--dataflow", "static", "--crossbars", "32"], tmp / "hand_static"),
        lambda: simulate(["--arch", TINY, "--workload", str(tmp / "chain_16_2_2.yaml"),
                          "--dataflow", "reprogram", "--crossbars", "1"], tmp / "hand_reprogram"),
    ])
    return "\n\n".join([
        "## 1. Hand-derived timelines on the tiny chip",
        "`arch_configs/tiny.yaml` is chosen so that runs can be worked out on paper: 1 GHz "
        "(1 cycle = 1 ns), 16x16 crossbars, 8-bit weights stored as 4 two-bit slices x 2 "
        "columns (differential), 8-bit inputs through 2-bit DACs (4 reads per vector), 4 ADCs "
        "per crossbar (16 columns -> 4 conversions of 1 ns per read), DRAM 50 ns + 8 B/ns, NoC "
        "8 B/cycle + 1 cycle per hop, a fixed 3 write pulses per cell. The derivations below are "
        "those of `tests/test_engine.py` (comments of the named tests), restated; this script "
        "writes the same workloads as YAML and runs them through `xbarsim run`. Outputs are "
        "`summary.csv` columns (energies shown in pJ), except `busy:<resource>`: busy cycles "
        "in `utilization.csv`.",
        "### 1a. One linear layer 16 -> 2, static, 32 crossbars (149 cycles)",
        "Source: `test_static_single_block_timeline_by_hand` and `test_utilization_by_hand`. "
        "The static dataflow is the pipelined engine (docs/design.md section 6): activations "
        "live in the tile buffers and no global buffer is used. The input image comes from "
        "DRAM (16 B / 8 B per cycle = 2, plus 50 latency: cycle 52) through the chip's I/O "
        "port, one hop from tile 0's router: cycle 53. The one block is read 4 times; a read "
        "takes 10 cycles and converting its 16 columns on 4 ADCs 4 cycles, pipelined: "
        "min(10, 4) + 4 x max(10, 4) = 44, so cycle 97 (the tile's buffer port, 18 B at 8 B "
        "per cycle, and shift-and-add bank work alongside). The output has no consumer: one hop "
        "to the I/O port (98), then DRAM 1 + 50: cycle 149. Writing the block beforehand "
        "(setup, not part of the 149): fetch 16 x 16 cells x 2 bits = 64 B (50 + 8), NoC 8 + 1 "
        "hop, tile write 8 (75 cycles), then 16 rows, each verify 10 + 3 x (pulse 20 + verify "
        "10) = 100 cycles. Leakage: 32 crossbars x (0.01 + 4 ADCs x 0.1 mW) + 8 tiles x (0.5 + "
        "0.05 + 0.1 + 0.5 mW) + 1.0 mW global buffer = 23.32 mW.",
        hand_table(static, STATIC_CASE, "1a static", checks),
        "### 1b. Two layers 16 -> 2 -> 2, reprogram, 1 crossbar (2080 cycles)",
        "Source: `test_reprogram_two_rounds_by_hand`. Each layer is one block and the chip has "
        "one crossbar, so there are two rounds. Round 0 programs fc1 as the setup above, except "
        "that the weight fetch queues on the DRAM channel behind the input image for 2 cycles: "
        "1677. fc1 computes: inputs to the tile 6, block 44, so cycle 1727. Round 1 fetches "
        "fc2's 2 x 16 cells x 2 bits = 8 B (50 + 1), NoC 1 + 1 hop, tile write 1 (54), and "
        "programs 2 rows x 100 = 200: cycle 1981. fc2 computes: inputs 4 (global buffer 1, NoC "
        "1 + 1, tile 1), block 44, output to DRAM 51: cycle 2080. Rows marked [this document] "
        "are not asserted by the test; they follow from the same counts and tiny.yaml's "
        "energies (0.5 pJ per pulse, 0.25 pJ per verify read).",
        hand_table(reprogram, REPROGRAM_CASE, "1b reprogram", checks),
    ])


# ---------------------------------------------------------------------------- 2. formulas


@dataclass(frozen=True)
class Encoding:
    """The number formats that enter the counter formulas, read from an architecture file."""

    rows: int
    cols: int
    d: int
    s: int
    t: int

    @classmethod
    def from_yaml(cls, path: str) -> Encoding:
        """d, s, t as in docs/design.md section 5 (see ``xbarsim/mapping/encoding.py``)."""
        a = arch_yaml(path)
        xb, prec = a["crossbar"], a["precision"]
        differential = bool(xb["differential"])
        m = prec["weight_bits"] - 1 if differential else prec["weight_bits"]
        return cls(rows=xb["rows"], cols=xb["cols"], d=2 if differential else 1,
                   s=ceil_div(m, xb["cell_bits"]),
                   t=ceil_div(prec["input_bits"], xb["dac"]["bits"]))


def layer_formulas(w: Workload, name: str, enc: Encoding, batch: int) -> dict[str, int]:
    """Closed-form counters of one MVM layer, from its fields and inferred output shape."""
    layer = w.layer(name)
    G = layer.groups
    K = layer.in_channels // G * layer.kernel[0] * layer.kernel[1]
    O = layer.out_channels // G  # noqa: E741 -- K, O, G, P as in docs/design.md section 5
    _, h, wd = w.output_shape(name)
    P = h * wd
    row_blocks, col_blocks = ceil_div(K, enc.rows), ceil_div(O * enc.s * enc.d, enc.cols)
    return {
        "blocks": G * row_blocks * col_blocks,
        "xbar_reads": batch * P * G * row_blocks * col_blocks * enc.t,
        "adc_conversions": batch * P * G * row_blocks * O * enc.s * enc.d * enc.t,
        "dac_conversions": batch * P * G * K * col_blocks * enc.t,
        "cells_written": G * K * O * enc.s * enc.d,
    }


FORMULA_TEXT = {
    "blocks": "sum G ceil(K/rows) ceil(O s d/cols)",
    "xbar_reads": "sum N P G ceil(K/rows) ceil(O s d/cols) t",
    "adc_conversions": "sum N P G ceil(K/rows) O s d t",
    "dac_conversions": "sum N P G K ceil(O s d/cols) t",
    "cells_written": "sum G K O s d",
}


@dataclass(frozen=True)
class ZooRun:
    """One zoo workload's formula counts and the simulator's counts for the same run."""

    name: str
    batch: int
    crossbars: int
    formula: dict[str, int]
    simulated: dict[str, int]
    layers_equal: int
    layers_total: int


def zoo_workloads() -> list[str]:
    """Stems of ``workloads/*.yaml``, sorted."""
    return sorted(p.stem for p in (ROOT / "workloads").glob("*.yaml"))


def zoo_run(name: str, enc: Encoding, tmp: Path) -> ZooRun:
    """Run one workload in reprogram rounds on the ISAAC-like chip; compare with the formulas."""
    w = load_workload(ROOT / "workloads" / f"{name}.yaml")
    batch = 1 if name.endswith("_imagenet") else 2
    per_layer = {la.name: layer_formulas(w, la.name, enc, batch) for la in w.mvm_layers}
    total = {k: sum(f[k] for f in per_layer.values()) for k in FORMULA_TEXT}
    # a chip a quarter of the network's size forces several rounds, so every cell is written
    crossbars = max(1, total["blocks"] // 4)
    run = simulate(["--arch", ISAAC, "--workload", f"workloads/{name}.yaml", "--dataflow",
                    "reprogram", "--crossbars", str(crossbars), "--batch", str(batch)],
                   tmp / f"zoo_{name}")
    simulated = {k: int(run.layers["blocks"].sum()) if k == "blocks" else int(run.summary[k])
                 for k in FORMULA_TEXT}
    rows = run.layers.set_index("layer")
    equal = sum(all(int(rows.loc[layer, k]) == v for k, v in f.items())
                for layer, f in per_layer.items())
    return ZooRun(name, batch, crossbars, total, simulated, equal, len(per_layer))


def section_formulas(tmp: Path, checks: Checks) -> str:
    """Section 2: counters of every zoo workload against the closed-form formulas."""
    enc = Encoding.from_yaml(ISAAC)
    # the most MACs (the longest runs) first, so the two workers finish together
    names = sorted(zoo_workloads(), key=lambda n: -graph_counts(
        load_workload(ROOT / "workloads" / f"{n}.yaml"))[0])
    runs = sorted(parallel([lambda n=n: zoo_run(n, enc, tmp) for n in names]),
                  key=lambda r: r.name)
    rows, summary = [], []
    for r in runs:
        for key, text in FORMULA_TEXT.items():
            ok = r.formula[key] == r.simulated[key]
            rows.append([r.name, f"`{key}`", text, num(r.formula[key]), num(r.simulated[key]),
                         checks.mark(ok, f"2 formulas: {r.name} {key}")])
        ok = r.layers_equal == r.layers_total
        summary.append([r.name, r.batch, num(r.formula["blocks"]), num(r.crossbars),
                        f"{r.layers_equal} / {r.layers_total}",
                        checks.mark(ok, f"2 formulas: {r.name} per layer")])
    return "\n\n".join([
        "## 2. Counter formulas on every zoo network",
        f"Every workload in `workloads/*.yaml` runs `xbarsim run --arch {ISAAC} --dataflow "
        "reprogram` on a chip of a quarter of the crossbars the network needs (as in "
        "`test_counters_equal_design_formulas_on_every_zoo_workload`), so it is computed in "
        "several reprogramming rounds and every cell is written once per batch (a chip that "
        "holds the whole network writes nothing per inference: its writing is the setup). "
        "Batch N = 2, ImageNet networks N = 1. The formulas (`docs/design.md` section 5; "
        "`xbarsim/mapping/blocks.py`) are evaluated here from the workload graph "
        "(`xbarsim.workload.load_workload`): per conv/linear layer K = (C/G) kh kw, O = out/G, "
        "G groups, P output pixels (1 for linear); from the architecture file d = 2 for "
        "differential pairs or 1 for offset encoding, m = weight_bits - 1 or weight_bits, s = "
        f"ceil(m / cell_bits), t = ceil(input_bits / dac.bits). For `{ISAAC}`: rows = "
        f"{enc.rows}, cols = {enc.cols}, d = {enc.d}, s = {enc.s}, t = {enc.t}. `blocks` is "
        "compared with the sum of `layers.csv`'s mapped blocks, the other counters with "
        "`summary.csv`.",
        table(["workload", "counter", "formula", "formula value", "simulated", "equal"], rows),
        "Per layer: the same five counters of each conv/linear layer in `layers.csv` against the "
        "layer's formulas.",
        table(["workload", "N", "blocks needed", "crossbars", "layers with all counters equal",
               "check"], summary),
    ])


# ---------------------------------------------------------------------------- 3. kernel

KERNEL_SHAPES = [(1, 1, 1), (33, 128, 7), (17, 129, 130), (64, 300, 40), (200, 1000, 16)]
"""(N vectors, K rows, O outputs): one cell, one full row block, partial blocks, many blocks."""
KERNEL_METHODS = ["lookup", "bitplane", "float", "auto"]


def kernel_params(path: str) -> dict[str, Any]:
    """The kernel's settings (ideal device) from an architecture file."""
    a = arch_yaml(path)
    xb, prec = a["crossbar"], a["precision"]
    return {"input_bits": prec["input_bits"], "weight_bits": prec["weight_bits"],
            "cell_bits": xb["cell_bits"], "dac_bits": xb["dac"]["bits"],
            "adc_bits": xb["adc"]["bits"], "rows": xb["rows"],
            "differential": bool(xb["differential"]),
            "adc_range": a.get("analog", {}).get("adc_range", "fixed")}


def kernel_operands(p: dict[str, Any], shape: tuple[int, int, int], seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random inputs and weights over the full ranges, extremes included."""
    n, k, o = shape
    rng = np.random.default_rng(seed)
    half = 2 ** (p["weight_bits"] - 1)
    lo = 1 - half if p["differential"] else -half
    x = rng.integers(0, 2 ** p["input_bits"], (n, k))
    w = rng.integers(lo, half, (k, o))
    x[0, :] = 2 ** p["input_bits"] - 1
    w[0, 0], w[-1, -1] = lo, half - 1
    return x, w


def section_kernel(checks: Checks) -> str:
    """Section 3: the analog kernel under lossless settings against the exact product."""
    rows, notes = [], []
    compared = worst = 0
    for path in (IDEAL, TINY):
        p = kernel_params(path)
        full_scale = p["rows"] * (2 ** p["dac_bits"] - 1) * (2 ** p["cell_bits"] - 1)
        notes.append(f"`{path}`: {p['input_bits']}-bit inputs, {p['weight_bits']}-bit weights "
                     f"({'differential' if p['differential'] else 'offset'}), "
                     f"{p['cell_bits']}-bit cells, {p['dac_bits']}-bit DAC, {p['rows']} rows, "
                     f"{p['adc_bits']}-bit ADC, {p['adc_range']} range: full scale "
                     f"{full_scale} <= {2 ** p['adc_bits'] - 1} codes")
        for seed, shape in enumerate(KERNEL_SHAPES):
            x, w = kernel_operands(p, shape, seed)
            exact = exact_mvm(x, w)
            blas_vs_int = int(np.abs(exact - x.astype(np.int64) @ w.astype(np.int64)).max())
            for method in KERNEL_METHODS:
                enc = KernelEncoding(input_bits=p["input_bits"], weight_bits=p["weight_bits"],
                                     cell_bits=p["cell_bits"], dac_bits=p["dac_bits"],
                                     rows=p["rows"], cols=p["rows"],
                                     differential=p["differential"])
                xbar = AnalogCrossbar(enc, adc_bits=p["adc_bits"],
                                      adc_range=AdcRange(p["adc_range"]))
                y = crossbar_mvm(x, w, xbar, method=method)
                diff = int(np.abs(y - exact).max())
                ok = diff == 0 and blas_vs_int == 0 and y.shape == exact.shape
                compared, worst = compared + y.size, max(worst, diff, blas_vs_int)
                rows.append([f"`{Path(path).stem}`", "x".join(map(str, shape)), seed, method,
                             f"{y.size:,}", diff, blas_vs_int,
                             checks.mark(ok, f"3 kernel: {path} {shape} {method}")])
    tests = kernel_tests()
    return "\n\n".join([
        "## 3. The analog kernel is exact under lossless settings",
        "`xbarsim.functional.kernel.crossbar_mvm` computes what crossbars holding integer "
        "weights w [K, O] return for inputs x [N, K]: weights sliced into cells, inputs fed "
        "bit-serially through the DACs, one analog column sum per row block and read, an ADC "
        "per column sum, shift-and-add. With an ideal device (no noise, faults, drift or IR "
        "drop) and an ADC whose codes cover the largest possible column sum (rows x DAC level "
        "x cell level), every step is lossless and the result must equal the integer product "
        "bit for bit. The settings are read from the architecture files:",
        "\n".join(f"- {n}" for n in notes),
        "Inputs and weights are seeded uniform draws over their full ranges (first input row "
        "at its maximum, the extreme weights present). `lookup`, `bitplane` and `float` are "
        "forced kernel paths; `auto` resolves to the exact product when the ADC is lossless, so "
        "its row checks that choice. Columns: largest |kernel - `exact_mvm`| (float64 BLAS) and "
        "largest |`exact_mvm` - int64 `x @ w`|; both must be 0.",
        table(["settings", "N x K x O", "seed", "method", "elements", "max |kernel - exact|",
               "max |exact - int64|", "check"], rows),
        f"In all {compared:,} output elements were compared; the largest difference is "
        f"{worst}.",
        "The test suite goes further: `tests/naive_analog.py` is an independent, slow, "
        "obviously correct reference (one loop per weight part, slice, row block and read; "
        "exact integer column sums; the ADC formula step by step; no code shared with the "
        "kernel except the read-noise stream's NumPy twin), and `tests/test_analog_kernel.py` "
        "checks the kernel against it and the exact product with Hypothesis over random bit "
        "widths, encodings, shapes and sparsity. Hypothesis properties (found by this script "
        "in that file): " + ", ".join(f"`{t}`" for t in tests["given"]) + ". Tests that compare "
        "with the naive reference: " + ", ".join(f"`{t}`" for t in tests["naive"]) + ".",
    ])


def kernel_tests() -> dict[str, list[str]]:
    """Names of the Hypothesis tests and of the naive-reference tests in test_analog_kernel."""
    tree = ast.parse((ROOT / "tests" / "test_analog_kernel.py").read_text())
    found: dict[str, list[str]] = {"given": [], "naive": []}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        decorators = [ast.unparse(d) for d in node.decorator_list]
        if any(d.startswith("given(") for d in decorators):
            found["given"].append(node.name)
        if any(isinstance(n, ast.Name) and n.id == "naive_crossbar_mvm" for n in ast.walk(node)):
            found["naive"].append(node.name)
    return found


# ---------------------------------------------------------------------------- 4. zoo sizes

PUBLISHED_NETS = {
    "resnet18": ("ResNet-18", 1.82e9, 11.7e6),
    "resnet34": ("ResNet-34", 3.67e9, 21.8e6),
    "resnet50": ("ResNet-50", 4.1e9, 25.6e6),
    "vgg16": ("VGG-16", 15.5e9, 138e6),
    "densenet121": ("DenseNet-121", 2.87e9, 8.0e6),
    "mobilenetv2": ("MobileNetV2", 0.30e9, 3.5e6),
}
"""ImageNet (224x224) MACs and weights per inference: torchvision model documentation and the
papers (He et al. CVPR 2016; Simonyan and Zisserman ICLR 2015; Huang et al. CVPR 2017; Sandler
et al. CVPR 2018), as listed in docs/guide.md (Workloads)."""
SIZE_TOLERANCE = 0.02
"""Published counts include biases and batch-norm (the zoo folds or drops them) and are rounded
to 2-3 significant digits, so agreement within 2% is the check."""


def graph_counts(w: Workload) -> tuple[int, int]:
    """MACs and weights of one inference, from each conv/linear layer's fields and output shape."""
    macs = weights = 0
    for layer in w.mvm_layers:
        K = layer.in_channels // layer.groups * layer.kernel[0] * layer.kernel[1]
        _, h, wd = w.output_shape(layer.name)
        macs += h * wd * layer.out_channels * K
        weights += layer.out_channels * K
    return macs, weights


def section_zoo_sizes(checks: Checks) -> str:
    """Section 4: zoo MACs and weights against published figures."""
    rows = []
    for key, (label, pub_macs, pub_weights) in PUBLISHED_NETS.items():
        name = f"{key}_imagenet"
        w = load_workload(ROOT / "workloads" / f"{name}.yaml")
        macs, weights = graph_counts(w)
        same = w == ZOO[name]()
        ok = (abs(macs / pub_macs - 1) <= SIZE_TOLERANCE
              and abs(weights / pub_weights - 1) <= SIZE_TOLERANCE)
        rows.append([label, f"{macs / 1e9:.3f} G", f"{pub_macs / 1e9:g} G",
                     f"{macs / pub_macs:.3f}", f"{weights / 1e6:.2f} M",
                     f"{pub_weights / 1e6:g} M", f"{weights / pub_weights:.3f}",
                     checks.mark(ok, f"4 zoo sizes: {label}"),
                     checks.mark(same, f"4 zoo YAML = builder: {name}")])
    return "\n\n".join([
        "## 4. Zoo networks against published MACs and weights",
        "MACs = sum over conv/linear layers of P x out_channels x K and weights = sum of "
        "out_channels x K, computed here from `workloads/<net>_imagenet.yaml` (224x224 inputs). "
        "Published values: torchvision's model documentation and the original papers (He et "
        "al., CVPR 2016; Simonyan and Zisserman, ICLR 2015; Huang et al., CVPR 2017; Sandler et "
        "al., CVPR 2018), as listed in `docs/guide.md` (Workloads). The zoo folds batch-norm "
        "and ignores biases, and the published figures are rounded, so the check is agreement "
        "within "
        f"{SIZE_TOLERANCE:.0%}. The last column checks that the YAML file equals what the zoo "
        "builder (`xbarsim.workload.ZOO`) constructs today.",
        table(["network", "MACs (zoo)", "published", "ratio", "weights (zoo)", "published",
               "ratio", f"within {SIZE_TOLERANCE:.0%}", "YAML = ZOO builder"], rows),
    ])


# ---------------------------------------------------------------------------- 5. chips

ISAAC_CHIP = {"tiles": 168, "crossbars_per_tile": 96, "area_mm2": 85.4, "power_w": 65.8,
              "peak_tops": 41.3}
"""ISAAC full chip (Shafiee et al., ISCA 2016): 168 tiles x 96 crossbars, 85.4 mm^2, 65.8 W,
41.3 TOPS peak at 16 bits."""


PEAK_FRACTION = 0.9
"""Share of ISAAC's peak TOPS a chip-filling layer must reach with memory out of the way."""

PEAK_LAYER = """name: peak
input: [128, 32, 32]
layers:
  - {name: conv, type: conv, in_channels: 128, out_channels: 256, kernel: 3, padding: 1}
"""
"""A layer whose copies fill the 16,128 crossbars exactly: 9 x 16 = 144 blocks, 112 copies."""

BOUND_WORKLOADS = ("resnet18_cifar100", "resnet50_imagenet")
WIDE_MESH = ("--set", "chip.noc.bytes_per_cycle=4096")
"""The same runs with the mesh out of the way: how much of the gap the 32-bit links make."""
NO_MULTICAST = ("--set", "chip.noc.multicast=false")
"""The same runs with one unicast per consumer: what the [A] multicast is worth."""
BOUND_VARIANTS = {(): "", NO_MULTICAST: " (no multicast)", WIDE_MESH: " (mesh links 4 KiB/cycle)"}
"""The rows of 5a: the check itself, then two shown for what they explain."""
VERSUS_BATCHES = (16, 64)
"""Batches of the static-versus-basis check."""
VERSUS_WORKLOADS = ("mlp_digits", "lenet5_fashion", "resnet20_fashion", "resnet18_cifar100",
                    "mobilenetv2_cifar100", "densenet121_cifar100", "resnet50_imagenet")
"""Zoo networks of the static-versus-basis check: every kind of layer graph (an MLP, a plain
CNN, residual, inverted-residual and dense blocks), small to large."""
BOUND_FACTOR = 3.0
"""Static at batch 64 must be within this factor of the balanced-pipeline bound."""

AREA_TOLERANCE = 0.05
"""Largest relative gap between the simulated and ISAAC's published chip area."""
POWER_TOLERANCE = 0.10
"""Largest relative gap between the simulated and ISAAC's published power at peak."""

ISAAC_IMAS, ISAAC_ROUTERS = 168 * 12, 168 // 4
ISAAC_POWER_ROWS = (
    ("ADCs (8 per IMA)", ISAAC_IMAS, 16.0, "energy_adc_j"),
    ("DACs (8 x 128 per IMA)", ISAAC_IMAS, 4.0, "energy_dac_j"),
    ("sample-and-hold (8 x 128 per IMA)", ISAAC_IMAS, 0.01, "energy_dac_j"),
    ("memristor arrays (8 per IMA)", ISAAC_IMAS, 2.4, "energy_xbar_j"),
    ("shift-and-add (4 per IMA)", ISAAC_IMAS, 0.2, "energy_digital_j"),
    ("IMA input register 2 KB", ISAAC_IMAS, 1.24, "energy_buffer_j"),
    ("IMA output register 256 B", ISAAC_IMAS, 0.23, "energy_buffer_j"),
    ("eDRAM buffer 64 KB", 168, 20.7, "energy_buffer_j"),
    ("eDRAM-to-IMA bus", 168, 7.0, "energy_buffer_j"),
    ("tile output register 3 KB", 168, 1.68, "energy_buffer_j"),
    ("sigmoid units (2 per tile)", 168, 0.52, "energy_buffer_j"),
    ("max-pool unit", 168, 0.4, "energy_buffer_j"),
    ("tile shift-and-add", 168, 0.05, "energy_buffer_j"),
    ("router (1 per 4 tiles)", ISAAC_ROUTERS, 42.0, "energy_noc_j"),
)
"""ISAAC's tile table (component, count on the chip, mW each, the xbarsim energy column that
books it): the rows of the chip's 65.8 W other than its links (``ISAAC_LINKS_W``). The
periphery rows from the input register on are xbarsim's ``tile.periphery`` energies."""
ISAAC_POWER_W = {col: sum(n * mw for _, n, mw, c in ISAAC_POWER_ROWS if c == col) * 1e-3
                 for col in dict.fromkeys(c for *_, c in ISAAC_POWER_ROWS)}
"""ISAAC's on-chip power at peak by energy column, in W."""
SURVEY_ADC_PJ = {4: 0.92, 6: 1.07, 8: 1.93, 10: 16.4}
"""Murmann-survey regression at 32 nm and 1.28 GS/s, pJ per conversion (Accelergy
hwcomponents-adc model): the best converters published at each resolution."""
PUMA_CHIP = {"gops_per_mm2": 577.0, "gops_per_w": 837.0}
"""PUMA (Ankit et al., ASPLOS 2019, abstract): computational and power efficiency."""
PUMA_TOLERANCE = 0.15
"""Largest relative gap between xbarsim's and PUMA's published efficiencies."""
ISAAC_LINKS_W = 10.4
"""ISAAC's 4 HyperTransport links, counted at their rated power in its 65.8 W."""


NOT_IN_ISAAC = ("combiners", "write_controllers", "global_buffer")
"""Components of `area.csv` the isaac_like chip has and ISAAC does not."""


def section_chips(tmp: Path, checks: Checks) -> str:
    """Section 5: the ISAAC-like configuration against the published ISAAC chip."""
    a = arch_yaml(ISAAC)
    run = simulate(["--arch", ISAAC, "--workload", "workloads/mlp_digits.yaml", "--dataflow",
                    "static"], tmp / "isaac_area")
    crossbars = int(run.summary["crossbars"])
    area = float(run.summary["area_mm2"])
    parts = run.area.set_index("component")["area_mm2"]
    not_isaac = {name: float(parts[name]) for name in NOT_IN_ISAAC}
    own = area - sum(not_isaac.values())
    (tmp / "peak.yaml").write_text(PEAK_LAYER)
    peak_args = ["--arch", ISAAC, "--workload", str(tmp / "peak.yaml"), "--dataflow", "static",
                 "--batch", "8"]
    wide = ["--set", "chip.dram.gbytes_per_s=100000", "--set", "chip.noc.bytes_per_cycle=4096"]
    puma_args = ["--arch", PUMA, *peak_args[2:]]
    peak_run, fed_run, puma_run = parallel([
        lambda: simulate([*peak_args, *wide], tmp / "peak"),
        lambda: simulate(peak_args, tmp / "peak_fed"),
        lambda: simulate([*puma_args, *wide], tmp / "puma")])
    ops = 2 * load_workload(str(tmp / "peak.yaml")).total_macs
    peak, fed = (ops * float(r.summary["throughput_inf_per_s"]) / 1e12
                 for r in (peak_run, fed_run))
    copies = int(peak_run.layers["copies"].iloc[0])
    latency = float(peak_run.summary["latency_s"])
    published = {**ISAAC_POWER_W, "energy_static_j": 0.0}  # ISAAC's powers include leakage
    watts = {k: float(peak_run.summary[k]) / latency for k in published}
    power = sum(watts.values()) + ISAAC_LINKS_W
    power_rows = [[f"`{k}`", f"{published[k]:.3f}", f"{watts[k]:.3f}",
                   f"{watts[k] / published[k]:.2f}" if published[k] else ""]
                  for k in published]
    power_rows.append(["off-chip links (rated)", f"{ISAAC_LINKS_W:.3f}", f"{ISAAC_LINKS_W:.3f}",
                       "1.00"])
    puma_rows = puma_efficiency(puma_run, ops, checks)
    published_xbars = ISAAC_CHIP["tiles"] * ISAAC_CHIP["crossbars_per_tile"]
    ok_xbars = crossbars == published_xbars == a["chip"]["crossbars"]
    ok_tile = a["chip"]["crossbars_per_tile"] == ISAAC_CHIP["crossbars_per_tile"]
    ratio = own / ISAAC_CHIP["area_mm2"]
    bound_rows = []
    cases = [(w, extra) for extra in BOUND_VARIANTS for w in BOUND_WORKLOADS]
    bound_runs = parallel([
        (lambda w=w, extra=extra: simulate(
            ["--arch", ISAAC, "--workload", f"workloads/{w}.yaml", "--dataflow", "static",
             "--batch", "64", *extra], tmp / f"bound_{w}_{'_'.join(extra)}"))
        for w, extra in cases])
    read_cycles = math.ceil(a["crossbar"]["read_ns"] * a["clock_ghz"] - 1e-9)
    for (w, extra), r in zip(cases, bound_runs):
        bound = float(r.summary["xbar_reads"]) / 64 * read_cycles / crossbars
        per = float(r.summary["cycles_per_inference"])
        steady = a["clock_ghz"] * 1e9 / float(r.summary["throughput_inf_per_s"])
        status = (checks.mark(per <= BOUND_FACTOR * bound, f"5a {w} bound") if not extra
                  else "shown")
        bound_rows.append([w + BOUND_VARIANTS[extra], f"{bound:,.0f}",
                           f"{per:,.0f}", f"{per / bound:.2f}", f"{steady:,.0f}",
                           f"{steady / bound:.2f}", status])
    versus_rows = []
    cases = [(w, b) for w in VERSUS_WORKLOADS for b in VERSUS_BATCHES]
    versus = parallel([
        (lambda w=w, b=b, flow=flow: simulate(
            ["--arch", ISAAC, "--workload", f"workloads/{w}.yaml", "--dataflow", flow,
             "--batch", str(b)], tmp / f"versus_{w}_{b}_{flow}"))
        for w, b in cases for flow in ("static", "basis")])
    for i, (w, b) in enumerate(cases):
        static_run, basis_run = versus[2 * i], versus[2 * i + 1]
        static_cycles = float(static_run.summary["cycles_per_inference"])
        basis_cycles = float(basis_run.summary["cycles_per_inference"])
        steady = a["clock_ghz"] * 1e9 / float(static_run.summary["throughput_inf_per_s"])
        if static_cycles <= basis_cycles:
            status = checks.mark(True, f"5b {w} {b} static")
        else:  # slower per inference: only the pipeline's fill may explain it
            status = checks.mark(steady <= basis_cycles, f"5b {w} {b} static steady state")
            status = "fill" if status == "pass" else status
        versus_rows.append([w, b, f"{static_cycles:,.0f}", f"{steady:,.0f}",
                            f"{basis_cycles:,.0f}", f"{basis_cycles / static_cycles:.2f}", status])
    rows = [
        ["crossbars", "168 tiles x 96", f"{published_xbars:,}", f"{crossbars:,}", "",
         checks.mark(ok_xbars, "5 ISAAC crossbars")],
        ["crossbars per tile", "12 IMAs x 8", ISAAC_CHIP["crossbars_per_tile"],
         a["chip"]["crossbars_per_tile"], "", checks.mark(ok_tile, "5 ISAAC crossbars/tile")],
        ["area", "ISAAC's components", f"{ISAAC_CHIP['area_mm2']} mm²", f"{own:.4g} mm²",
         f"{ratio:.3f}", checks.mark(abs(ratio - 1) <= AREA_TOLERANCE, "5 ISAAC area")],
        ["area", "full chip (with what ISAAC does not have)", "", f"{area:.4g} mm²",
         f"{area / ISAAC_CHIP['area_mm2']:.3f}", "shown"],
        ["power", "full chip, peak", f"{ISAAC_CHIP['power_w']} W", f"{power:.4g} W",
         f"{power / ISAAC_CHIP['power_w']:.3f}",
         checks.mark(abs(power / ISAAC_CHIP["power_w"] - 1) <= POWER_TOLERANCE,
                     "5 ISAAC power")],
        ["throughput", "peak, 16-bit (DRAM and mesh out of the way)",
         f"{ISAAC_CHIP['peak_tops']} TOPS", f"{peak:.4g} TOPS",
         f"{peak / ISAAC_CHIP['peak_tops']:.3f}",
         checks.mark(peak >= PEAK_FRACTION * ISAAC_CHIP["peak_tops"], "5 ISAAC peak")],
        ["throughput", "same layer, isaac_like's DRAM and mesh", "", f"{fed:.4g} TOPS",
         f"{fed / ISAAC_CHIP['peak_tops']:.3f}", "shown"],
    ]
    return "\n\n".join([
        "## 5. Published chips",
        "ISAAC (Shafiee et al., ISCA 2016) is the chip `arch_configs/isaac_like.yaml` follows: "
        "168 tiles x 96 crossbars (12 IMAs x 8) = 16,128 crossbars of 128x128, 85.4 mm², "
        "65.8 W and 41.3 TOPS peak (16-bit). The simulated area is `summary.csv`'s `area_mm2` "
        f"of a run on `{ISAAC}` at its configured crossbar count (the area does not depend on "
        "the workload; the run is `mlp_digits`, static).",
        table(["quantity", "published as", "ISAAC", "xbarsim", "xbarsim / ISAAC", "status"],
              rows),
        f"**Area** is checked to within {AREA_TOLERANCE:.0%}: every row of ISAAC's tile "
        "table (IMAs with ADCs, DACs, arrays, shift-and-add and registers; eDRAM, bus, router "
        "share, sigmoid, max-pool and output register per tile) plus 22.88 mm² of "
        f"HyperTransport links gives 85.4 mm²; the simulated chip's own ISAAC components "
        f"are {ratio:.3f} x that. The full chip adds what ISAAC does not have (see "
        "`docs/parameters.md`): the basis dataflow's coefficient combiners "
        f"({not_isaac['combiners']:.2f} mm², [D] from their MAC lanes and buffer), the "
        f"write-verify controllers ({not_isaac['write_controllers']:.2f} mm², [A])"
        + (f" and a global buffer ({not_isaac['global_buffer']:.2f} mm², [A]). "
           if not_isaac['global_buffer'] else " (it has no global buffer, like ISAAC). ") +
        "**Peak throughput** is measured, not computed: one 3x3 conv layer, 128 -> 256 "
        "channels on a 32x32 input (144 crossbars per copy), is replicated by "
        f"`mapping.replication: balance` into {copies} copies that fill the chip, and run at "
        "batch 8 with the off-chip channel and the mesh links made wide (`--set "
        "chip.dram.gbytes_per_s=100000 --set chip.noc.bytes_per_cycle=4096`); TOPS = 2 x MACs "
        "per image x `throughput_inf_per_s`. It must reach "
        f"{PEAK_FRACTION:.0%} of ISAAC's peak. With isaac_like's own 25.6 GB/s channel the same "
        "layer is bound by DRAM (256 KiB of input and 512 KiB of output per image).",
        f"**Power at peak** is checked to within {POWER_TOLERANCE:.0%}. It is measured on the "
        "same peak run: each on-chip energy column divided by the run's `latency_s`, plus "
        f"the off-chip links at their rated {ISAAC_LINKS_W} W, which is how ISAAC's 65.8 W "
        "counts them (the run's `energy_dram_j` is left out: its channel was widened to keep "
        "DRAM out of the way, and xbarsim charges the links per byte moved). ISAAC's column "
        "is its tile table summed by the category xbarsim books each component under:",
        table(["energy column", "ISAAC (W)", "xbarsim (W)", "ratio"], power_rows),
        "The ADCs, DACs, arrays and shift-and-add run at ISAAC's rates, so they match. The "
        "tile buffers and routers are charged per byte actually moved, at ISAAC's energy per "
        "access: the peak layer reads each input once per vector for all the crossbars of a "
        "copy and sends only partial sums between tiles, far below the traffic at which "
        "ISAAC's table rates the eDRAM (20.7 mW) and the routers (42 mW). That activity gap "
        "is the whole difference, with the leakage of the coefficient combiner and the global "
        "buffer that ISAAC does not have [A].",
        "### 5a. Networks against the balanced-pipeline bound",
        "The static dataflow pipelines layers and images (docs/design.md section 6). No "
        "pipeline on a chip of C crossbars can beat the *balanced-pipeline bound*: every "
        "crossbar read of one inference (`xbar_reads` / batch) at its read time (120 cycles "
        "here), spread over all C crossbars. The runs below are batch 64 on the full chip; "
        "`cycles_per_inference` includes filling and draining the pipeline, the steady state "
        "is 1 / `throughput_inf_per_s` in cycles. The target is within "
        f"{BOUND_FACTOR:g}x of the bound. The rows with mesh links of 4 KiB/cycle "
        "(`--set chip.noc.bytes_per_cycle=4096`) show what the interconnect costs: ISAAC's "
        "links carry 4 B/cycle, and in ResNet-50's first stage each residual block's output "
        "(256 channels x 56 x 56 x 2 B, 1.6 MB per image) travels along the row of tiles "
        "that holds the next block, to that block's add, over the links its convolutions "
        "pass their outputs on: about 2 MB per image on the busiest link, which at 4 B/cycle "
        "takes a little longer than the slowest layer computes, so the steady state follows "
        "that link. With the mesh out of the way the "
        "steady state is set by replication: copies are whole, so the slowest layer's share "
        "of its vectors (`layers.csv`: `copies`) bounds it above the balanced-pipeline bound. "
        "The rest of `cycles_per_inference` is the first image's way through the pipeline "
        "(rows follow their input rows, docs/design.md 6.2), shared by the batch. "
        "The rows without multicast (`--set chip.noc.multicast=false`) show what the [A] "
        "multicast is worth: a block's input then crosses the mesh once for its first "
        "convolution and once more for its add.",
        table(["workload", "bound (cycles)", "cycles per inference", "ratio",
               "steady state", "ratio", "status"], bound_rows),
        "### 5b. Resident weights against the basis on a chip that holds the network",
        "A static read of a 128x128 block does 2,048 MACs; a basis projection far fewer, and "
        "the basis dataflow adds the combination. So on a chip that holds the whole network, "
        "`static` must not be slower per inference than `basis` at batch 16 or more (full "
        "isaac_like chip, example bases, `cycles_per_inference` of each run). Where it is, the "
        "check passes only if the static pipeline's steady state (1 / `throughput_inf_per_s`, "
        "in cycles) is faster than `basis`: the difference is then the pipeline's fill, the "
        "first image's way through every layer, which a batch shares (status `fill`); `basis` "
        "runs layer by layer over the whole batch and has none.",
        table(["workload", "batch", "static", "static steady state", "basis",
               "basis / static", "status"], versus_rows),
        "### 5c. PUMA",
        "PUMA (Ankit et al., ASPLOS 2019, 32 nm, 1 GHz) publishes 577 GOPS/s/mm² and 837 "
        f"GOPS/W. `{PUMA}` builds the chip from the constants of PUMA's own simulator "
        "(`docs/parameters.md`): 168 tiles x 8 cores x 2 MVMUs x 8 crossbars = 21,504 "
        "crossbars, with the cores' vector units, register files, instruction memories and "
        "control as `tile.periphery.core_logic_*`. The peak layer above runs on it the same "
        "way (copies fill the chip, DRAM and mesh wide, batch 8). Both efficiencies leave the "
        "off-chip links out (area without `offchip_io`, power without `energy_dram_j`): PUMA's "
        "own efficiency calculator (`isca_results/puma_*_sweep.py`) works per tile. Target: "
        f"within {PUMA_TOLERANCE:.0%}.",
        table(["quantity", "PUMA", "xbarsim", "xbarsim / PUMA", "status"], puma_rows),
        "The computational efficiency is higher because xbarsim pipelines a crossbar's 16 "
        "one-bit reads with their conversions (1.6 us per 16-bit MVM, as ISAAC), while PUMA's "
        "simulator times an MVM as (16 + 2) x 100 ns = 1.8 us (1.8 / 1.6 = 1.125, the whole gap). "
        "Power efficiency is per joule, so the timing cancels out of it.",
        "### 5d. ADC cost against resolution",
        adc_section(checks),
    ])


def adc_section(checks: Checks) -> str:
    """Section 5d: isaac_like's ADC energy, time and area from 4 to 10 bits (the estimators of
    ``xbarsim/timing/estimators.py`` on the config's own anchor) against the survey."""
    adcs = {b: load_arch(ISAAC, [f"crossbar.adc.bits={b}"]).crossbar.adc for b in range(4, 11)}
    pj = {b: adc_energy_pj(adc) for b, adc in adcs.items()}
    rows = [[b, f"{pj[b]:.3f}", f"{SURVEY_ADC_PJ[b]:g}" if b in SURVEY_ADC_PJ else "",
             f"{adc_conversion_ns(adc):.4f}", f"{adc_area_mm2(adc) * 1e3:.3f}"]
            for b, adc in adcs.items()]
    monotone = all(pj[b] < pj[b + 1] for b in range(4, 10))
    halved = pj[4] <= pj[8] / 2
    return "\n\n".join([
        "`--set crossbar.adc.bits=B` on isaac_like changes the ADC's energy per conversion "
        "(ISAAC's 2 mW x 0.78125 ns at 8 bits, scaled by Accelergy's ISAAC SAR table), its "
        "conversion time ((bits + 2) / 10 of 0.78125 ns, MNSIM) and its area (x 1.573 per bit, "
        "Accelergy's survey regression); `docs/parameters.md` gives the sources. The survey "
        "column is the Murmann-survey regression at 32 nm and 1.28 GS/s (Accelergy "
        "hwcomponents-adc). From 4 to 8 bits isaac_like's ADC is within 20% of it (ISAAC's "
        "1.56 pJ at 8 bits is a measured 32 nm SAR; Kull, ISSCC 2013, reports 2.58 pJ at 1.2 "
        "GS/s). At 10 bits it is 7x below: the survey's fast 10-bit converters are "
        "noise-limited, while ISAAC's table extends a SAR, so 10-bit points of this config "
        "are optimistic.",
        table(["bits", "xbarsim pJ/conversion", "survey pJ/conversion", "conversion ns",
               "area (10⁻³ mm²)"], rows),
        table(["check", "value", "status"], [
            ["energy per conversion rises with every bit (4-10)", "", checks.mark(
                monotone, "5d ADC monotone")],
            ["4 bits cost at most half of 8 bits", f"{pj[4] / pj[8]:.3f}", checks.mark(
                halved, "5d ADC halving")]]),
    ])


def puma_efficiency(run: SimRun, ops: float, checks: Checks) -> list[list[str]]:
    """Section 5c's rows: the peak run's GOPS per mm² and per W against PUMA's, with the
    off-chip links left out of both."""
    gops = ops * float(run.summary["throughput_inf_per_s"]) / 1e9
    io = float(run.area.set_index("component").loc["offchip_io", "area_mm2"])
    area = float(run.summary["area_mm2"]) - io
    latency = float(run.summary["latency_s"])
    watts = (float(run.summary["energy_j"]) - float(run.summary["energy_dram_j"])) / latency
    rows = []
    for name, unit, value, key in (("computational efficiency", "GOPS/s/mm²", gops / area,
                                     "gops_per_mm2"),
                                   ("power efficiency", "GOPS/W", gops / watts, "gops_per_w")):
        ratio = value / PUMA_CHIP[key]
        rows.append([name, f"{PUMA_CHIP[key]:g} {unit}", f"{value:.1f} {unit}", f"{ratio:.3f}",
                     checks.mark(abs(ratio - 1) <= PUMA_TOLERANCE, f"5c PUMA {key}")])
    rows.append(["peak throughput", "", f"{gops / 1e3:.2f} TOPS", "", "shown"])
    rows.append(["area without off-chip links", "", f"{area:.2f} mm²", "", "shown"])
    rows.append(["power at peak without off-chip links", "", f"{watts:.2f} W", "", "shown"])
    return rows


# ---------------------------------------------------------------------------- 6. golden


def golden_run(name: str, argv: list[str], tmp: Path) -> tuple[int, list[str]]:
    """Redo one golden run through the CLI; return its file count and the files that differ."""
    target = tmp / "golden" / name
    out = {"sweep": target / "sweep.csv", "basis": target / "basis.npz"}.get(argv[0], target)
    cli([*argv, "--out", str(out)])
    golden = ROOT / "tests" / "golden" / name
    made = sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    kept = sorted(p.relative_to(golden) for p in golden.rglob("*") if p.is_file())
    differ = [str(p) for p in sorted(set(made) | set(kept))
              if p not in made or p not in kept
              or normalized(target / p) != (golden / p).read_bytes()]
    return len(kept), differ


def section_golden(tmp: Path, checks: Checks) -> str:
    """Section 6: the golden runs, listed and redone through the CLI."""
    runs, volatile = RUNS, VOLATILE_COLUMNS
    results = parallel([lambda n=n, a=a: golden_run(n, a, tmp) for n, a in runs.items()])
    rows = []
    for (name, argv), (files, differ) in zip(runs.items(), results):
        shown = " ".join(argv)
        status = "identical" if not differ else "differs: " + ", ".join(differ)
        rows.append([f"`{name}`", f"`xbarsim {shown}`", files, status,
                     checks.mark(not differ, f"6 golden: {name}")])
    return "\n\n".join([
        "## 6. Golden outputs",
        "`tests/golden/` holds every output file of a fixed set of CLI runs (`RUNS` in "
        "`tests/golden_runs.py`), and `tests/test_golden_outputs.py` reproduces them and "
        "compares them byte for byte, with the columns "
        + ", ".join(f"`{c}`" for c in volatile) + " blanked (they differ between identical "
        "runs by design). They guard refactors: any change that moves a single number, a column, "
        "a row order or a file name fails, across the static, reprogram (with overlap, vector "
        "granularity, real weights and measured pulses) and basis (digital and analog "
        "combination) dataflows, the sweep CSV, the functional accuracy runs on the ISAAC-like "
        "and ideal chips, and the basis fit's NPZ. After a deliberate model change they are "
        "regenerated with `python tests/golden_runs.py --update`, and the commit says by how "
        "much and why the numbers moved. This script redoes each run through the command line "
        "and compares with the kept files the same way:",
        table(["run", "command (output option added per verb)", "files kept", "result",
               "check"], rows),
    ])


# ---------------------------------------------------------------------------- accuracy

ACCURACY_CSV = ROOT / "benchmarks" / "accuracy.csv"
"""Written by ``benchmarks/accuracy.py`` (functional runs of every dataflow, ~20 minutes)."""
BASIS_TARGET_PP = 1.0
"""Issue target: a trained basis within 1 percentage point of the 8-bit model under ideal."""
TARGET_MODELS = ("lenet5_fashion", "resnet20_fashion")
"""Networks the target applies to (Fashion-MNIST)."""
REFERENCE_8BIT = "ideal, 8-bit weights"
"""The config row of the 8-bit quantized model (``benchmarks/accuracy.py``)."""


def section_accuracy(checks: Checks) -> str:
    """Section 7: accuracy of every dataflow on real data, from ``benchmarks/accuracy.csv``."""
    rows = pd.read_csv(ACCURACY_CSV, keep_default_na=False)
    blocks = []
    for model, runs in rows.groupby("model", sort=False):
        static = runs[runs.dataflow == "static"].set_index("config")
        body = []
        for config, mine in runs.groupby("config", sort=False):
            cells = [f"{float(static.loc[config, 'accuracy_float']):.3f}"]
            cells += [f"{float(r.accuracy_analog):.3f}" for r in mine.itertuples()]
            body.append([config, *cells])
        ideal = runs[runs.config.str.startswith("ideal")]
        exact = all(ideal.accuracy_analog == ideal.accuracy_exact)
        body.append(["ideal: kernel = exact integers in every column", "", "", "", "", "", "",
                     checks.mark(exact, f"7 ideal analog = exact: {model}")])
        if model in TARGET_MODELS:
            base = float(static.loc[REFERENCE_8BIT, "accuracy_exact"])
            for combine in ("digital", "analog"):
                got = float(ideal[(ideal["basis"] == "trained") & (ideal["combine"] == combine)]
                            .accuracy_exact.iloc[0])
                gap_pp = 100 * (base - got)
                body.append([f"ideal: trained basis ({combine}) vs 8-bit weights", "", "", "", "",
                             "", f"{0.0 - gap_pp:+.2f} pp",
                             checks.mark(gap_pp <= BASIS_TARGET_PP,
                                         f"7 trained basis within {BASIS_TARGET_PP:g} pp: "
                                         f"{model} {combine}")])
        for line in body:
            line += [""] * (8 - len(line))
        images = int(runs.images.iloc[0])
        blocks.append(f"**{model}** ({images} test images)\n\n" + table(
            ["config", "float", "weights on cells (static)", "fitted basis, digital",
             "fitted basis, analog", "trained basis, digital", "trained basis, analog",
             "check"], body))
    return "\n\n".join([
        "## 7. Accuracy of every dataflow on real data",
        "Top-1 accuracy of the analog path (`xbarsim functional`, seed 0) for the shipped "
        "networks on the first test images of their dataset: the digits MLP "
        "(`workloads/digits_test.npz`), LeNet-5 and ResNet-20 on Fashion-MNIST (Xiao et al. "
        "2017, Debian's `dataset-fashion-mnist`). `weights on cells`: the static dataflow, weights "
        "quantized to the config's 16 bits (8 in the `ideal, 8-bit weights` row, the reference "
        "of the target); `fitted basis`: `basis fit` of the same weights (L = 9, or 16 for "
        "the MLP, B = 8, 4-bit coefficients); `trained basis`: the shipped "
        "`workloads/<model>.trained.basis.npz` from `basis train` (commands in "
        "`benchmarks/accuracy.py`); digital or analog combination (`basis.combine`). The runs "
        "are made by `python benchmarks/accuracy.py` (about 30 minutes), which writes "
        "`benchmarks/accuracy.csv`; this section renders that file and checks it: under "
        "`ideal.yaml` the analog path equals the exact integer path in every run, and on "
        f"Fashion-MNIST the trained basis is within {BASIS_TARGET_PP:g} percentage point of "
        "the 8-bit model (the target of the basis-training issue).",
        *blocks,
    ])


# ---------------------------------------------------------------------------- document


def document(sections: Sequence[str], checks: Checks) -> str:
    """The whole Markdown file."""
    failed = ("\n".join(f"- **FAILED**: {f}" for f in checks.failed) if checks.failed
              else "All checks pass.")
    head = "\n\n".join([
        "<!-- Generated by `python benchmarks/validation.py`; do not edit by hand. -->",
        "# Validation",
        "What xbarsim's numbers are checked against. Every table below is produced by "
        "`python benchmarks/validation.py`, which runs the checks (through the `xbarsim` "
        "command line, plus the workload graph and the analog kernel from Python) and writes "
        "this file; the only values typed in are published reference values and hand "
        "derivations, each with its source. Rerunning it gives the same file.",
        f"**Summary: {checks.total} checks, {len(checks.failed)} failed.**",
        failed,
        "Contents: 1. hand-derived timelines; 2. counter formulas on every zoo network; "
        "3. the analog kernel; 4. zoo networks against published sizes; 5. published chips "
        "(ISAAC, PUMA) and ADC resolution; 6. golden outputs; 7. accuracy of every dataflow on "
        "real data.",
    ])
    return head + "\n\n" + "\n\n".join(sections) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main() -> int:
    """Run every check, write docs/validation.md, return 1 if a check failed."""
    began = time.perf_counter()
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="xbarsim_validation_") as name:
        tmp = Path(name)
        sections = [section_by_hand(tmp, checks), section_formulas(tmp, checks),
                    section_kernel(checks), section_zoo_sizes(checks),
                    section_chips(tmp, checks), section_golden(tmp, checks),
                    section_accuracy(checks)]
    write_atomically(DOC, document(sections, checks))
    print(f"wrote {DOC.relative_to(ROOT)}: {checks.total} checks, {len(checks.failed)} failed"
          f" ({time.perf_counter() - began:.1f} s)")
    for failure in checks.failed:
        print(f"FAILED: {failure}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
