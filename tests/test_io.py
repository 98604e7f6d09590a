"""Output files: atomic, with the permissions an ordinary ``open`` would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from xbarsim.cli.main import main
from xbarsim.io.atomic import atomic_write, atomic_write_text
from xbarsim.io.npz_file import write_npz


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_outputs_get_ordinary_permissions(tmp_path: Path, umask_022: None) -> None:
    assert main(["run", "--arch", "arch_configs/tiny.yaml", "--workload",
                 "workloads/mlp_digits.yaml", "--dataflow", "reprogram", "--crossbars", "8",
                 "--out", str(tmp_path / "run")]) == 0
    write_npz(tmp_path / "a.npz", {"x": np.arange(3)})
    files = [*sorted((tmp_path / "run").iterdir()), tmp_path / "a.npz"]
    assert [p.name for p in files] == ["area.csv", "layers.csv", "summary.csv", "utilization.csv",
                                       "a.npz"]
    assert {mode(p) for p in files} == {0o644}


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.txt") == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    atomic_write_text(target, "old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
