"""``benchmarks/bench_engine.py``: its ``--merge`` reads back what ``--chip-sizes`` prints."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_engine.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_engine", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_merge_reads_back_a_printed_output_and_keeps_each_runs_fastest(bench, capsys,
                                                                        tmp_path):
    """Two outputs as ``--chip-sizes`` prints them (rows, then the summary, whose runs over
    2 s repeat rows): reading one gives its rows, nothing from the summary; merging both
    keeps each run's faster wall time; outputs whose events differ are refused."""
    fast = {("lenet5_mnist", "static", 16, 1): "no fit",
            ("lenet5_mnist", "basis", 16128, 64): (2.5, "1,234", "5,678"),
            ("resnet18_cifar100", "static", 16128, 1): (0.4, "33,853", "43,061")}
    slow = {**fast, ("lenet5_mnist", "basis", 16128, 64): (3.5, "1,234", "5,678"),
            ("resnet18_cifar100", "static", 16128, 1): (0.3, "33,853", "43,061")}
    paths = []
    for i, rows in enumerate((fast, slow)):
        for key, row in rows.items():
            bench.print_row(key, row)
        bench.summary(rows)
        paths.append(tmp_path / f"out{i}.txt")
        paths[-1].write_text(f"{bench.HEADER}\n{capsys.readouterr().out}", encoding="utf-8")
    first = bench.read_rows(str(paths[0]))
    assert first == fast
    assert bench.merge([first, bench.read_rows(str(paths[1]))]) == {
        **fast, ("resnet18_cifar100", "static", 16128, 1): (0.3, "33,853", "43,061")}
    other = {**fast, ("lenet5_mnist", "basis", 16128, 64): (2.0, "1,235", "5,678")}
    with pytest.raises(SystemExit, match="events or cycles differ"):
        bench.merge([fast, other])
